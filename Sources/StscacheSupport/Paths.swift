/// A path's directory (`.` for a bare name, `/` at the root) and last component, split at the
/// last `/` as `dirname` and `basename` do for paths without a trailing slash. The one splitter:
/// the key stores, the agent's watches and the AWS file writers all take paths apart with it.
package func splitPath(_ path: String) -> (directory: String, name: String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", path) }
    let directory = String(path[..<slash])
    return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
}
