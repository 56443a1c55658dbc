import XCTest
import Foundation
import TestSupport
@testable import MockAPI

/// Webhooks end to end: a real server, a real receiver (`HTTPServer` on port 0), real HTTP between them.
final class WebhooksTests: XCTestCase {
    var server: TestServer!
    var receiver: WebhookReceiver!
    let temp = TempDirs()

    override func setUpWithError() throws { receiver = try WebhookReceiver() }

    override func tearDown() {
        server?.stop()
        receiver?.stop()
        temp.removeAll()
    }

    func start(delays: [UInt64] = [50, 50], _ configure: @escaping (inout Configuration) -> Void = { _ in }) throws {
        server = try TestServer {
            $0.webhookRetryDelaysMs = delays
            $0.rateLimits.enabled = false
            configure(&$0)
        }
    }

    @discardableResult
    func createWebhook(url: String? = nil, events: [String], secret: String = "whsec_test_secret") throws -> [String: Any] {
        let body = try JSONSerialization.data(withJSONObject: ["url": url ?? receiver.url, "events": events, "secret": secret])
        let r = try server.request("POST", "/api/v1/webhooks", json: String(decoding: body, as: UTF8.self))
        XCTAssertEqual(r.status, 201, r.text)
        return r.object["data"] as? [String: Any] ?? [:]
    }

    func createSandbox(_ name: String, headers: [(String, String)] = []) throws -> String {
        let r = try server.request("POST", "/api/v1/sandboxes", json: #"{"name":"\#(name)"}"#, headers: headers)
        XCTAssertEqual(r.status, 201, r.text)
        return (r.object["data"] as? [String: Any])?["id"] as? String ?? ""
    }

    func attempts(_ webhookID: String) throws -> [[String: Any]] {
        try server.request("GET", "/api/v1/webhooks/\(webhookID)/deliveries").object["data"] as? [[String: Any]] ?? []
    }

    /// Polls (bounded) until `cond` holds.
    func eventually(timeout: Double = 10, _ what: String, _ cond: () throws -> Bool) rethrows {
        let deadline = Date().addingTimeInterval(timeout)
        while try !cond() {
            if Date() > deadline { return XCTFail("timed out waiting for \(what)") }
            usleep(10_000)
        }
    }

    // MARK: signing

    func testSignatureIsHMACSHA256OfTheRawBodyAsLowercaseHex() {
        // RFC 4231 test case 2.
        XCTAssertEqual(WebhookSignature.sign(body: Array("what do ya want for nothing?".utf8), secret: "Jefe"),
                       "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertTrue(WebhookSignature.newSecret().hasPrefix("whsec_"))
    }

    func testCatalogValidationAndMatching() {
        XCTAssertEqual(WebhookCatalog.unknown(["sandbox.created", "sandbox.*", "*", "api_key.*", "nope.x", "x.*", "sand*.*"]),
                       ["nope.x", "x.*", "sand*.*"])
        let w = "wh-1"
        XCTAssertTrue(WebhookCatalog.wants(["sandbox.*"], type: "sandbox.ready", webhookID: w, aboutResource: "s"))
        XCTAssertFalse(WebhookCatalog.wants(["sandbox.created"], type: "sandbox.ready", webhookID: w, aboutResource: "s"))
        XCTAssertTrue(WebhookCatalog.wants(["*"], type: "file.created", webhookID: w, aboutResource: "s"))
        // Delivery outcomes: only when named, never through `*`, never about the webhook itself.
        XCTAssertFalse(WebhookCatalog.wants(["*"], type: "webhook.delivered", webhookID: w, aboutResource: "other"))
        XCTAssertTrue(WebhookCatalog.wants(["webhook.*"], type: "webhook.delivered", webhookID: w, aboutResource: "other"))
        XCTAssertFalse(WebhookCatalog.wants(["webhook.delivered"], type: "webhook.delivered", webhookID: w, aboutResource: w))
    }

    // MARK: CRUD

    func testCRUDValidationSecretOnceAndTenantIsolation() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("contract/fixtures.json").path
        try start { $0.fixturesPath = fixtures }
        let keyA = "msk_live_tenant_a_full_key_000000000001", keyB = "msk_live_tenant_b_full_key_000000000001"
        let bad = try server.request("POST", "/api/v1/webhooks", json: #"{"url":"ftp://x","events":["sandbox.*","bogus.event"]}"#, key: keyA)
        XCTAssertEqual(bad.status, 422)
        let details = (bad.object["error"] as? [String: Any])?["details"] as? [String: String] ?? [:]
        XCTAssertEqual(Set(details.keys), ["url", "events"])
        XCTAssertTrue(details["events"]?.contains("bogus.event") == true, "\(details)")
        XCTAssertEqual(try server.request("POST", "/api/v1/webhooks", json: #"{"url":"http://127.0.0.1:1/","events":[]}"#, key: keyA).status, 422)

        let created = try server.request("POST", "/api/v1/webhooks", json: #"{"url":"http://127.0.0.1:1/x","events":["sandbox.created"]}"#, key: keyA)
        XCTAssertEqual(created.status, 201)
        let data = try XCTUnwrap(created.object["data"] as? [String: Any])
        let id = try XCTUnwrap(data["id"] as? String)
        let secret = try XCTUnwrap(created.object["secret"] as? String)
        XCTAssertTrue(secret.hasPrefix("whsec_"))
        XCTAssertEqual(data["secret"] as? String, secret)
        XCTAssertEqual(data["active"] as? Bool, true)

        let got = try server.request("GET", "/api/v1/webhooks/\(id)", key: keyA)
        XCTAssertNil((got.object["data"] as? [String: Any])?["secret"])
        XCTAssertEqual(try server.request("GET", "/api/v1/webhooks/\(id)", key: keyB).status, 404)
        XCTAssertEqual(try server.request("DELETE", "/api/v1/webhooks/\(id)", key: keyB).status, 404)
        XCTAssertEqual((try server.request("GET", "/api/v1/webhooks", key: keyB).object["data"] as? [Any])?.count, 0)
        XCTAssertEqual(try server.request("GET", "/api/v1/webhooks", key: "msk_live_tenant_a_readonly_key_0000002").status, 403)

        let patched = try server.request("PATCH", "/api/v1/webhooks/\(id)", json: #"{"active":false,"events":["sandbox.*"]}"#, key: keyA)
        XCTAssertEqual((patched.object["data"] as? [String: Any])?["active"] as? Bool, false)
        XCTAssertEqual((patched.object["data"] as? [String: Any])?["events"] as? [String], ["sandbox.*"])
        XCTAssertEqual(try server.request("DELETE", "/api/v1/webhooks/\(id)", key: keyA).status, 204)
        XCTAssertEqual(try server.request("GET", "/api/v1/webhooks/\(id)", key: keyA).status, 404)
        // The catalog route wins over /webhooks/{id}.
        let catalog = try server.request("GET", "/api/v1/webhooks/events", key: keyA).object
        XCTAssertTrue((catalog["events"] as? [String])?.contains("sandbox.created") == true)
        XCTAssertEqual((catalog["signing"] as? [String: Any])?["format"] as? String, "sha256=<hex>")
    }

    // MARK: delivery

    func testDeliveryIsSignedRetriedWithTheSameIDAndLogged() throws {
        try start()
        receiver.answer([500])
        let hook = try createWebhook(events: ["sandbox.created"])
        let hookID = hook["id"] as! String
        let sandbox = try createSandbox("signed")
        let got = receiver.wait(count: 2)
        XCTAssertEqual(got.count, 2)
        for (i, r) in got.enumerated() {
            XCTAssertEqual(r.method, "POST")
            XCTAssertEqual(r.target, "/hooks")
            XCTAssertEqual(r.header("Content-Type"), "application/json")
            XCTAssertEqual(r.header("User-Agent"), "miosa-mock-webhooks")
            XCTAssertEqual(r.header("X-Miosa-Event"), "sandbox.created")
            XCTAssertEqual(r.header("X-Miosa-Attempt"), String(i + 1))
            XCTAssertEqual(r.header("X-Miosa-Signature"), WebhookSignature.sign(body: r.body, secret: "whsec_test_secret"))
            let body = r.json
            XCTAssertEqual(body["id"] as? String, r.header("X-Miosa-Delivery"))
            XCTAssertEqual(body["delivery_id"] as? String, r.header("X-Miosa-Delivery"))
            XCTAssertEqual(body["event"] as? String, "sandbox.created")
            XCTAssertEqual(body["type"] as? String, "sandbox.created")
            XCTAssertNotNil(body["occurred_at"] as? String)
            XCTAssertEqual(body["timestamp"] as? String, body["occurred_at"] as? String)
            XCTAssertEqual((body["data"] as? [String: Any])?["id"] as? String, sandbox)
        }
        XCTAssertEqual(got[0].header("X-Miosa-Delivery"), got[1].header("X-Miosa-Delivery"))
        XCTAssertEqual(got[0].body, got[1].body, "a retry resends the same bytes")

        try eventually("two attempt rows") { try attempts(hookID).count == 2 }
        let rows = try attempts(hookID)  // newest first
        XCTAssertEqual(rows[0]["attempt"] as? Int, 2)
        XCTAssertEqual(rows[0]["success"] as? Bool, true)
        XCTAssertEqual(rows[0]["status_code"] as? Int, 200)
        XCTAssertEqual(rows[0]["response_body"] as? String, "status 200")
        XCTAssertEqual(rows[1]["attempt"] as? Int, 1)
        XCTAssertEqual(rows[1]["success"] as? Bool, false)
        XCTAssertEqual(rows[1]["status_code"] as? Int, 500)
        XCTAssertEqual(rows[1]["will_retry"] as? Bool, true)
        XCTAssertEqual(rows[1]["delivery_id"] as? String, got[0].header("X-Miosa-Delivery"))
        // The outcomes are domain events too.
        let types = try server.onLoop { s in
            try s.app.db.query("SELECT type FROM events WHERE type LIKE 'webhook.%' ORDER BY id").compactMap { $0.string("type") }
        }
        XCTAssertEqual(types, ["webhook.created", "webhook.failed", "webhook.delivered"])
        // The control API shows the exact request across tenants.
        let control = try server.request("GET", "/_mock/webhooks/deliveries?limit=5", key: nil).object["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(control.count, 2)
        let request = control[0]["request"] as? [String: Any] ?? [:]
        XCTAssertEqual((request["headers"] as? [String: String])?["X-Miosa-Signature"], got[1].header("X-Miosa-Signature"))
        XCTAssertEqual((request["body"] as? [String: Any])?["id"] as? String, got[1].header("X-Miosa-Delivery"))
    }

    func testGivesUpAfterTheLastAttempt() throws {
        try start(delays: [20])
        receiver.answer([503, 503, 503])
        let hookID = try createWebhook(events: ["sandbox.created"])["id"] as! String
        _ = try createSandbox("doomed")
        try eventually("two attempts") { try attempts(hookID).count == 2 }
        let last = try attempts(hookID)[0]
        XCTAssertEqual(last["will_retry"] as? Bool, false)
        XCTAssertEqual(last["error"] as? String, "receiver answered 503")
        let state = try server.onLoop { s in try s.app.db.first("SELECT state FROM webhook_deliveries") { $0.text(0) } }
        XCTAssertEqual(state, "failed")
        XCTAssertEqual(receiver.requests.count, 2)
    }

    func testPendingRetrySurvivesARestartAndFollowsTheMockClock() throws {
        let dir = temp.path("miosa-webhooks")
        let configure: (inout Configuration) -> Void = { $0.memory = false; $0.dataDir = dir }
        try start(delays: [300_000], configure)  // five minutes of server time
        receiver.answer([503])
        let hookID = try createWebhook(events: ["sandbox.created"])["id"] as! String
        _ = try createSandbox("restart")
        receiver.wait(count: 1)
        try eventually("the failed attempt") { try attempts(hookID).count == 1 }
        XCTAssertEqual(try attempts(hookID)[0]["will_retry"] as? Bool, true)
        server.stop()

        try start(delays: [300_000], configure)
        XCTAssertEqual(receiver.requests.count, 1, "not due yet")
        let moved = try server.request("POST", "/_mock/clock", json: #"{"advance_seconds": 301}"#, key: nil)
        XCTAssertEqual(moved.status, 200)
        let got = receiver.wait(count: 2)
        XCTAssertEqual(got.count, 2)
        XCTAssertEqual(got[1].header("X-Miosa-Delivery"), got[0].header("X-Miosa-Delivery"))
        XCTAssertEqual(got[1].header("X-Miosa-Attempt"), "2")
        try eventually("the second attempt row") { try attempts(hookID).first?["success"] as? Bool == true }
    }

    func testAttemptInFlightAtShutdownIsSentAgainAfterRestart() throws {
        let dir = temp.path("miosa-webhooks")
        let configure: (inout Configuration) -> Void = { $0.memory = false; $0.dataDir = dir }
        try start(delays: [50], configure)
        receiver.answer([0])  // the first request is never answered
        let hookID = try createWebhook(events: ["sandbox.created"])["id"] as! String
        _ = try createSandbox("in-flight")
        receiver.wait(count: 1)
        server.stop()  // cancels the request in flight: not an attempt, still due
        try start(delays: [50], configure)
        let got = receiver.wait(count: 2)
        XCTAssertEqual(got.count, 2)
        XCTAssertEqual(got[1].header("X-Miosa-Delivery"), got[0].header("X-Miosa-Delivery"))
        XCTAssertEqual(got.map { $0.header("X-Miosa-Attempt") }, ["1", "1"])
        try eventually("one successful attempt") {
            let rows = try attempts(hookID)
            return rows.count == 1 && rows[0]["success"] as? Bool == true
        }
    }

    func testIdempotentReplayDeliversNothing() throws {
        try start()
        try createWebhook(events: ["sandbox.created"])
        let key = [("Idempotency-Key", UUID().uuidString)]
        let first = try createSandbox("once", headers: key)
        let again = try server.request("POST", "/api/v1/sandboxes", json: #"{"name":"once"}"#, headers: key)
        XCTAssertEqual(again.header("Idempotent-Replayed"), "true")
        XCTAssertEqual((again.object["data"] as? [String: Any])?["id"] as? String, first)
        // A sentinel after the replay: once its delivery is in, anything the replay caused would be too.
        let sentinel = try createSandbox("sentinel")
        receiver.wait(count: 2)
        usleep(100_000)
        let ids = receiver.requests.compactMap { ($0.json["data"] as? [String: Any])?["id"] as? String }
        XCTAssertEqual(ids.sorted(), [first, sentinel].sorted())
        let counts = try server.onLoop { s in
            (try s.app.db.scalarInt("SELECT COUNT(*) FROM events WHERE type = 'sandbox.created'"),
             try s.app.db.scalarInt("SELECT COUNT(*) FROM webhook_deliveries"))
        }
        XCTAssertEqual(counts.0, 2)
        XCTAssertEqual(counts.1, 2)
    }

    func testOutcomeEventsNeverLoop() throws {
        try start()
        // A hears sandbox.created and delivery outcomes; B hears everything (`*` excludes webhook.*).
        let a = try createWebhook(events: ["sandbox.created", "webhook.delivered"])["id"] as! String
        let b = try createWebhook(events: ["*"])["id"] as! String
        _ = try createSandbox("loops")
        // A: sandbox.created + webhook.delivered for B's two deliveries. B: sandbox.created + sandbox.ready.
        receiver.wait(count: 5)
        usleep(300_000)  // a loop would keep adding deliveries well within this
        let got = receiver.requests
        XCTAssertEqual(got.count, 5)
        let toA = got.filter { $0.json["webhook_id"] as? String == a }.map { $0.header("X-Miosa-Event") ?? "" }
        let toB = got.filter { $0.json["webhook_id"] as? String == b }.map { $0.header("X-Miosa-Event") ?? "" }
        XCTAssertEqual(toA.sorted(), ["sandbox.created", "webhook.delivered", "webhook.delivered"])
        XCTAssertEqual(toB.sorted(), ["sandbox.created", "sandbox.ready"])
        for r in got where r.header("X-Miosa-Event") == "webhook.delivered" {
            XCTAssertEqual(r.json["resource_id"] as? String, b, "never about the receiving webhook itself")
        }
    }

    func testTestEndpointAnswersWithTheAttemptAndUnreachableURLsFailClearly() throws {
        try start(delays: [])
        let ok = try createWebhook(events: ["sandbox.created"])["id"] as! String
        let r = try server.request("POST", "/api/v1/webhooks/\(ok)/test")
        XCTAssertEqual(r.status, 200)
        let attempt = r.object["data"] as? [String: Any] ?? [:]
        XCTAssertEqual(attempt["event_type"] as? String, "webhook.test")
        XCTAssertEqual(attempt["success"] as? Bool, true)
        XCTAssertEqual(receiver.requests.first?.header("X-Miosa-Event"), "webhook.test")

        for (url, error) in [("https://127.0.0.1:\(receiver.port)/x", "https:// URLs cannot be delivered by the mock"),
                             ("http://hooks.example.com/x", "host not resolvable in the mock")] {
            let id = try createWebhook(url: url, events: ["sandbox.created"])["id"] as! String
            let t = try server.request("POST", "/api/v1/webhooks/\(id)/test").object["data"] as? [String: Any] ?? [:]
            XCTAssertEqual(t["success"] as? Bool, false)
            XCTAssertTrue((t["error"] as? String)?.contains(error) == true, "\(t)")
            XCTAssertNil(t["status_code"] as? Int)
        }
        XCTAssertEqual(receiver.requests.count, 1)
    }

    func testReplayQueuesANewDeliveryAndReplayIDIsIdempotent() throws {
        try start()
        let hookID = try createWebhook(events: ["sandbox.created"])["id"] as! String
        _ = try createSandbox("replayed")
        let original = receiver.wait(count: 1)[0]
        let deliveryID = try XCTUnwrap(original.header("X-Miosa-Delivery"))
        let path = "/api/v1/webhooks/\(hookID)/deliveries/\(deliveryID)/replay"
        let r = try server.request("POST", path, json: #"{"replay_id":"r-1"}"#)
        XCTAssertEqual(r.status, 202, r.text)
        let newID = try XCTUnwrap((r.object["data"] as? [String: Any])?["id"] as? String)
        XCTAssertNotEqual(newID, deliveryID)
        let replayed = receiver.wait(count: 2)[1]
        XCTAssertEqual(replayed.header("X-Miosa-Delivery"), newID)
        XCTAssertEqual(replayed.json["replay_of"] as? String, deliveryID)
        XCTAssertEqual((replayed.json["data"] as? [String: Any])?["id"] as? String, (original.json["data"] as? [String: Any])?["id"] as? String)
        XCTAssertEqual(try server.request("POST", path, json: #"{"replay_id":"r-1"}"#).status, 409)
        XCTAssertEqual(try server.request("POST", "/api/v1/webhooks/\(hookID)/deliveries/\(UUID().uuidString)/replay").status, 404)
    }
    func testPurgeDropsOldFinishedDeliveriesButKeepsPendingOnes() throws {
        try start()
        let left = try server.onLoop { s -> [String] in
            let db = s.app.db
            let old = s.app.now - 8 * 86_400
            for (id, state) in [("old-done", "delivered"), ("old-failed", "failed"), ("old-pending", "pending")] {
                try WebhookDeliveryStore.insert(db, id: id, webhookID: "w", tenantID: "t", eventType: "sandbox.created", eventID: nil,
                                                body: "{}", state: state, maxAttempts: 1, due: s.app.now + 60, now: old)
            }
            try WebhookDeliveryStore.insert(db, id: "new-done", webhookID: "w", tenantID: "t", eventType: "sandbox.created",
                                            eventID: nil, body: "{}", state: "delivered", maxAttempts: 1, due: nil, now: s.app.now)
            try WebhookDeliveryStore.purge(db, now: s.app.now)
            return try db.query("SELECT id FROM webhook_deliveries ORDER BY id").compactMap { $0.string("id") }
        }
        XCTAssertEqual(left, ["new-done", "old-pending"])
    }
}
