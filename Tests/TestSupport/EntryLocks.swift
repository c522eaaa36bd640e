import CredentialCache
import Foundation

/// Another process in the middle of a refresh: a thread takes `key`'s entry lock in `cache` and
/// runs `whileHolding` under it, then lets go. Returns once the lock is held.
package func holdEntryLock(_ key: CacheKey, in cache: CredentialCache, whileHolding: @escaping @Sendable () -> Void) {
    let holding = DispatchSemaphore(value: 0)
    let holder = Thread {
        try? cache.withEntryLock(key, timeout: 5) {
            holding.signal()
            whileHolding()
        }
    }
    holder.start()
    holding.wait()
}
