# stscache prompt segment for fish: shows the session time left for the selected profile,
# e.g. "prod 42m", in the right prompt. Copy it to ~/.config/fish/conf.d/stscache.fish, or
# source it from ~/.config/fish/config.fish.
#
# `stscache prompt` prints nothing when the profile has no stscache session and never fails,
# so it is safe to run on every prompt. A fish_right_prompt you already have is kept and shown
# after the segment.

if functions -q fish_right_prompt; and not functions -q __stscache_previous_right_prompt
    functions --copy fish_right_prompt __stscache_previous_right_prompt
end

function fish_right_prompt
    set -l segment
    # fish reports a missing command itself (2>/dev/null does not hide that): check first.
    if command -q stscache
        set segment (stscache prompt 2>/dev/null)
    end
    if test -n "$segment"
        set_color yellow
        printf '%s' $segment
        set_color normal
    end
    if functions -q __stscache_previous_right_prompt
        test -n "$segment"; and printf ' '
        __stscache_previous_right_prompt
    end
end
