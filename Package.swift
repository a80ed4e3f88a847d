// swift-tools-version:6.0
import PackageDescription

// Hot-path modules are small and separate; cross-module optimisation lets the
// optimiser inline across them in release builds, and per-access exclusivity checks
// on class-held per-packet state are dropped there (both measured by the benchmark).
let fastPath: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Microboxes",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mbox-agent", targets: ["mbox-agent"]),
        .executable(name: "mbox-trafficgen", targets: ["mbox-trafficgen"]),
        .executable(name: "mbox-bench-dataplane", targets: ["mbox-bench-dataplane"]),
        .library(name: "MBoxDataPath", targets: ["MBoxDataPath"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Agent data path, in the order packets travel.
        .target(name: "MBoxCapture", path: "Agent/Capture", swiftSettings: fastPath),
        .target(name: "MBoxPacket", dependencies: ["MBoxCapture"], path: "Agent/Packet", swiftSettings: fastPath),
        .target(name: "MBoxFlow", dependencies: ["MBoxPacket"], path: "Agent/Flow", swiftSettings: fastPath),
        .target(name: "MBoxTCP", dependencies: ["MBoxPacket"], path: "Agent/TCPMonitor", swiftSettings: fastPath),
        .target(
            name: "MBoxDataPath",
            dependencies: ["MBoxCapture", "MBoxPacket", "MBoxFlow", "MBoxTCP"],
            path: "Agent/DataPath", swiftSettings: fastPath),
        .target(name: "MBoxTrafficGen", dependencies: ["MBoxCapture"], path: "Agent/TrafficGen"),

        // Commands.
        .executableTarget(
            name: "mbox-agent",
            dependencies: ["MBoxDataPath", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Agent/Commands/mbox-agent", swiftSettings: fastPath),
        .executableTarget(
            name: "mbox-trafficgen",
            dependencies: ["MBoxTrafficGen", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Agent/Commands/mbox-trafficgen"),
        .executableTarget(
            name: "mbox-bench-dataplane",
            dependencies: ["MBoxDataPath", "MBoxTrafficGen"],
            path: "Benchmarks/DataPlane", swiftSettings: fastPath),

        // Tests.
        .testTarget(name: "CaptureTests", dependencies: ["MBoxCapture"], path: "Tests/CaptureTests"),
        .testTarget(name: "PacketTests", dependencies: ["MBoxPacket", "MBoxTrafficGen"], path: "Tests/PacketTests"),
        .testTarget(name: "FlowTests", dependencies: ["MBoxFlow"], path: "Tests/FlowTests"),
        .testTarget(name: "TCPMonitorTests", dependencies: ["MBoxTCP", "MBoxPacket", "MBoxTrafficGen"], path: "Tests/TCPMonitorTests"),
        .testTarget(
            name: "DataPathTests",
            dependencies: ["MBoxDataPath", "MBoxTrafficGen"],
            path: "Tests/DataPathTests"),
    ]
)
