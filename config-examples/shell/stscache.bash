# stscache prompt segment for bash: shows the session time left for the selected profile,
# e.g. "[prod 42m] " in front of your prompt. Source it from ~/.bashrc:
#
#     . /path/to/stscache.bash
#
# `stscache prompt` costs about as much as starting a tiny program, prints nothing when the
# profile has no stscache session, and never fails, so it is safe to run on every prompt.
# Sourcing this file twice changes nothing.

__stscache_prompt_command() {
    STSCACHE_PROMPT="$(stscache prompt 2>/dev/null)"
}

# Refresh the segment before each prompt, keeping whatever PROMPT_COMMAND already runs.
case ";${PROMPT_COMMAND-};" in
    *";__stscache_prompt_command;"*) ;;
    *) PROMPT_COMMAND="__stscache_prompt_command${PROMPT_COMMAND:+;$PROMPT_COMMAND}" ;;
esac

# Single quotes: the variable is expanded at each prompt (bash's promptvars, on by default),
# and its value is shown as text, never run.
case "$PS1" in
    *STSCACHE_PROMPT*) ;;
    *) PS1='${STSCACHE_PROMPT:+[$STSCACHE_PROMPT] }'"$PS1" ;;
esac
