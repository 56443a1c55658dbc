// swift-tools-version:5.10
// Swift 5 language mode: libuv and http_parser callbacks are plain @convention(c) closures
// that reach their owner through an Unmanaged pointer in `handle.data`.
import PackageDescription

// Release builds of our own targets skip the dynamic exclusivity checks (swift_beginAccess on every class
// property and global access: about 5 % of a GET's instructions). Debug builds and the tests keep them, so an
// overlapping access is still caught there. unsafeFlags is accepted for a root package (this one is not meant
// to be a dependency; SwiftPM refuses unsafe flags only in dependencies).
let releaseSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "miosa-mock",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "miosa-mock", targets: ["miosa-mock"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibUV", path: "Sources/CLibUV", pkgConfig: "libuv",
                       providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "CSQLite3", path: "Sources/CSQLite3", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CHTTPParser", path: "Sources/CHTTPParser",
                       providers: [.apt(["libhttp-parser-dev"])]),
        .target(name: "EventLoop", dependencies: ["CLibUV"], swiftSettings: releaseSettings),
        .target(name: "HTTP", dependencies: ["EventLoop", "CHTTPParser"], swiftSettings: releaseSettings),
        .target(name: "Store", dependencies: ["CSQLite3"], swiftSettings: releaseSettings),
        .target(name: "MockAPI", dependencies: [
            "EventLoop", "HTTP", "Store",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: releaseSettings),
        .executableTarget(name: "miosa-mock", dependencies: [
            "MockAPI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: releaseSettings),
        // Helpers shared by the test targets: a loop on its own thread, a raw HTTP client, a test server.
        .target(name: "TestSupport", dependencies: ["EventLoop", "HTTP", "MockAPI"], path: "Tests/TestSupport"),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "TestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "EventLoop", "TestSupport"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "MockAPITests", dependencies: ["MockAPI", "HTTP", "EventLoop", "Store", "TestSupport"]),
    ]
)
