#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading a file that must stay small (a config file, a cache entry, a key, a token file): one
/// reader, so every input has the same bound, the same refusal of FIFOs and devices, and the
/// same handling of a file that grows while it is read.
public enum BoundedRead {
    public enum Failure: Error, Equatable {
        /// The path does not exist (ENOENT, ENOTDIR).
        case missing
        /// A FIFO, a device, a directory: never read (a FIFO would hang the reader).
        case notRegularFile
        /// More than `limit` bytes: `size` by `fstat`, or nil when the file grew while read.
        case tooLarge(size: Int?, limit: Int)
        /// Any other failure, by errno.
        case system(errno: Int32)

        /// `strerror` of a system failure; a short reason for the others.
        public var reason: String {
            switch self {
            case .missing: return String(cString: strerror(ENOENT))
            case .notRegularFile: return "not a regular file"
            case .tooLarge(_, let limit): return "larger than \(limit) bytes"
            case .system(let code): return String(cString: strerror(code))
            }
        }
    }

    /// A regular file's bytes, at most `limit`: opened `O_NONBLOCK` (a FIFO cannot hang us
    /// before the regular-file check), checked with `fstat`, read to its end.
    public static func regularFile(atPath path: String, limit: Int) -> Result<[UInt8], Failure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            return .failure(code == ENOENT || code == ENOTDIR ? .missing : .system(errno: code))
        }
        defer { _ = close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(.system(errno: errno)) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .failure(.notRegularFile) }
        guard Int(info.st_size) <= limit else { return .failure(.tooLarge(size: Int(info.st_size), limit: limit)) }
        return toEnd(fd, limit: limit, sizeHint: Int(info.st_size))
    }

    /// The rest of an open file, at most `limit` bytes. `sizeHint` (its `fstat` size) sizes the
    /// first buffer; a file that grew since is read on, within the limit.
    public static func toEnd(_ fd: Int32, limit: Int, sizeHint: Int = 4096) -> Result<[UInt8], Failure> {
        var bytes = [UInt8](repeating: 0, count: min(max(sizeHint, 0), limit) + 1)
        var filled = 0
        while true {
            if filled == bytes.count {
                guard bytes.count <= limit else { return .failure(.tooLarge(size: nil, limit: limit)) }
                bytes.append(contentsOf: repeatElement(0, count: min(max(4096, bytes.count), limit + 1 - bytes.count)))
            }
            let got = bytes.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress! + filled, raw.count - filled) }
            if got < 0 {
                if errno == EINTR { continue }
                return .failure(.system(errno: errno))
            }
            if got == 0 { break }
            filled += got
        }
        guard filled <= limit else { return .failure(.tooLarge(size: nil, limit: limit)) }
        bytes.removeSubrange(filled...)
        return .success(bytes)
    }
}
