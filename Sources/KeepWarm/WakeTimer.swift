#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CProcessControl

/// What woke the agent's timer.
package enum WakeTimerEvent: Equatable, Sendable {
    /// The armed moment came.
    case fired
    /// The wall clock was set (or the machine resumed from suspend): every moment planned
    /// against the old time is suspect, and an expiry that came with it is not reported apart.
    case clockChanged
    /// Neither: a spurious wake-up.
    case nothing
    case failed(errno: Int32)
}

/// The agent's sleep until its next planned moment, by the wall clock. A protocol so that a test
/// can report "the clock was set" without setting the machine's clock (a time namespace does not
/// move CLOCK_REALTIME).
package protocol WakeTimer: AnyObject {
    /// Readable in `poll` when the timer fired or the wall clock was set.
    var descriptor: Int32 { get }
    /// Fires at `date` by the wall clock; nil disarms.
    func arm(at date: Date?)
    /// Why the descriptor is readable; reading clears it.
    func read() -> WakeTimerEvent
}

/// A CLOCK_REALTIME timerfd armed absolute with TFD_TIMER_CANCEL_ON_SET: a step of the wall clock
/// wakes the agent to re-plan.
final class RealtimeTimer: WakeTimer {
    let descriptor: Int32

    /// Nil with errno set when the timerfd cannot be made.
    init?() {
        descriptor = stscache_realtime_timer_create()
        guard descriptor >= 0 else { return nil }
    }

    deinit { close(descriptor) }

    func arm(at date: Date?) {
        guard let date else {
            _ = stscache_realtime_timer_arm(descriptor, -1, 0)
            return
        }
        let seconds = max(date.timeIntervalSince1970, 0)
        let whole = seconds.rounded(.down)
        _ = stscache_realtime_timer_arm(descriptor, Int64(whole), Int((seconds - whole) * 1e9))
    }

    func read() -> WakeTimerEvent {
        switch stscache_realtime_timer_read(descriptor) {
        case 0: return .fired
        case ECANCELED: return .clockChanged
        case EAGAIN: return .nothing
        case let failure: return .failed(errno: failure)
        }
    }
}
