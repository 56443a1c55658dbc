import XCTest
import TestSupport
@testable import MockAPI

/// Hostile input must produce an error envelope, never a crash or a hang. Seeded, bounded, repeatable.
final class RobustnessTests: XCTestCase {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func testJSONParserSurvivesMutatedInput() {
        var rng = SplitMix(state: 42)
        let seed = Array(#"{"a":[1,2.5e3,"x\u00e9\n",{"b":null,"c":true}],"d":-0.0}"#.utf8)
        var accepted = 0
        for _ in 0..<20_000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: i)
                default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: i)
                }
                if bytes.isEmpty { bytes = [0x7b] }
            }
            if let v = try? JSON.parse(bytes) {
                accepted += 1
                XCTAssertEqual(try? JSON.parse(v.encoded()), v)  // whatever parses re-encodes to the same value
            }
        }
        XCTAssertGreaterThan(accepted, 0)
    }

    func testServerAnswersGarbageRequestsWithEnvelopes() throws {
        let server = try TestServer()
        defer { server.stop() }
        var rng = SplitMix(state: 7)
        let bodies = ["{", "[]", "null", "\"x\"", "{\"name\": {\"deep\": [[[[]]]]}}", "{\"size\": 12}", "{\"metadata\": []}",
                      "{\"timeout_sec\": 1e400}", "{\"name\": \"\\ud800\"}", String(repeating: "[", count: 5000)]
        for body in bodies {
            let r = try server.request("POST", "/api/v1/sandboxes", json: body)
            XCTAssertTrue([201, 400, 422].contains(r.status), "\(body.prefix(40)) -> \(r.status)")
            if r.status != 201 { XCTAssertNotNil((r.object["error"] as? [String: Any])?["code"], body) }
        }
        for _ in 0..<200 {
            let len = Int.random(in: 1...64, using: &rng)
            let path = "/api/v1/" + String((0..<len).map { _ in Character(Unicode.Scalar(UInt8.random(in: 0x21...0x7e, using: &rng))) })
                .replacingOccurrences(of: " ", with: "")
            let r = try server.request(["GET", "POST", "PATCH", "DELETE"].randomElement(using: &rng)!, path, json: "{}")
            XCTAssertTrue((200..<600).contains(r.status))
            XCTAssertNotNil(r.header("X-Request-Id"))
        }
        // Still healthy afterwards.
        XCTAssertEqual(try server.request("GET", "/_mock/health", key: nil).status, 200)
    }
}
