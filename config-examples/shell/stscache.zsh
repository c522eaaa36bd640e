# stscache prompt segment for zsh: shows the session time left for the selected profile,
# e.g. "prod 42m", in the right prompt. Source it from ~/.zshrc:
#
#     source /path/to/stscache.zsh
#
# `stscache prompt` prints nothing when the profile has no stscache session and never fails,
# so it is safe to run on every prompt. Sourcing this file twice changes nothing.

autoload -Uz add-zsh-hook

_stscache_precmd() {
    local segment
    segment="$(stscache prompt 2>/dev/null)"
    # Prompt escapes are expanded after the variable: double any % so it is shown as text.
    _stscache_segment="${segment//\%/%%}"
}
add-zsh-hook precmd _stscache_precmd

setopt PROMPT_SUBST
if [[ $RPROMPT != *_stscache_segment* ]]; then
    RPROMPT='${_stscache_segment}'"${RPROMPT:+ $RPROMPT}"
fi
