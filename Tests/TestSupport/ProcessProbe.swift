import Foundation

/// Live processes whose command line contains `marker` (zombies have an empty cmdline and do not count).
public func processesMatching(_ marker: String) -> Int {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
    var n = 0
    for e in entries where e.allSatisfy(\.isNumber) {
        guard let data = FileManager.default.contents(atPath: "/proc/\(e)/cmdline"), !data.isEmpty else { continue }
        let cmd = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        if cmd.contains(marker) { n += 1 }
    }
    return n
}
