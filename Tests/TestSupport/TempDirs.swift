import Foundation

/// Temporary paths a test creates (data dirs for restart tests, fixture files); `removeAll()` in tearDown.
public final class TempDirs {
    private var paths: [String] = []

    public init() {}

    /// A fresh path under the system temp directory (not created: MockServer creates data dirs itself).
    public func path(_ prefix: String = "miosa-test") -> String {
        let p = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
        paths.append(p)
        return p
    }

    public func removeAll() {
        for p in paths { try? FileManager.default.removeItem(atPath: p) }
        paths.removeAll()
    }
}
