// swift-tools-version:6.0
import Foundation
import PackageDescription

// DPDK is used when its headers are installed (scripts/setup.sh installs them); without
// them the C shim compiles to stubs that report "built without DPDK". Debian's libdpdk.pc
// does not work with SwiftPM, so the flags are given here.
let hasDPDK = FileManager.default.fileExists(atPath: "/usr/include/dpdk/rte_eal.h")
let dpdkC: [CSetting] = hasDPDK ? [
    .define("MBOX_HAVE_DPDK"),
    .unsafeFlags(["-I/usr/include/dpdk", "-I/usr/include/x86_64-linux-gnu/dpdk", "-march=corei7",
                  "-include", "rte_config.h"]),
] : []
let dpdkLink: [LinkerSetting] = hasDPDK
    ? ["rte_eal", "rte_ethdev", "rte_mbuf", "rte_mempool", "rte_ring", "rte_net"].map { .linkedLibrary($0) } : []

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
        .executable(name: "mbox-bench-seed", targets: ["mbox-bench-seed"]),
        .library(name: "MBoxDataPath", targets: ["MBoxDataPath"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
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
        // Events and network functions, in the order events travel.
        .target(name: "MBoxEvents", dependencies: ["MBoxDataPath", "MBoxTCP", "MBoxFlow", "MBoxPacket"],
                path: "Agent/Events", swiftSettings: fastPath),
        .target(
            name: "MBoxNF",
            dependencies: ["MBoxEvents", "MBoxDataPath", .product(name: "Atomics", package: "swift-atomics")],
            path: "Agent/NF", swiftSettings: fastPath),
        .systemLibrary(name: "CHyperscan", path: "Agent/CHyperscan", pkgConfig: "libhs",
                       providers: [.apt(["libhyperscan-dev"])]),
        .target(name: "MBoxRules", dependencies: ["MBoxPacket"], path: "Agent/Rules"),
        .target(name: "MBoxMatch", dependencies: ["CHyperscan"], path: "Agent/Match", swiftSettings: fastPath),
        .target(
            name: "MBoxNFs",
            dependencies: ["MBoxNF", "MBoxEvents", "MBoxRules", "MBoxMatch", "MBoxDataPath"],
            path: "Agent/NFs", swiftSettings: fastPath),
        .target(
            name: "MBoxChain",
            dependencies: ["MBoxNF", "MBoxNFs", "MBoxEvents", "MBoxRules", .product(name: "Yams", package: "Yams")],
            path: "Agent/Chain"),
        .target(name: "MBoxTrafficGen", dependencies: ["MBoxCapture"], path: "Agent/TrafficGen"),

        // DPDK ports (the fast path's port stage).
        .target(name: "CDPDK", path: "Agent/CDPDK", cSettings: dpdkC, linkerSettings: dpdkLink),
        .target(name: "MBoxDPDK", dependencies: ["CDPDK", "MBoxCapture"], path: "Agent/DPDK", swiftSettings: fastPath),

        // Commands.
        .executableTarget(
            name: "mbox-agent",
            dependencies: ["MBoxDataPath", "MBoxChain", "MBoxNFs", "MBoxNF", "MBoxDPDK", "MBoxFlow", "MBoxPacket",
                           "MBoxCapture", .product(name: "Atomics", package: "swift-atomics"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Agent/Commands/mbox-agent", swiftSettings: fastPath),
        .executableTarget(
            name: "mbox-trafficgen",
            dependencies: ["MBoxTrafficGen", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Agent/Commands/mbox-trafficgen"),
        .executableTarget(
            name: "mbox-bench-dataplane",
            dependencies: ["MBoxDataPath", "MBoxTrafficGen"],
            path: "Benchmarks/DataPlane", swiftSettings: fastPath),
        .executableTarget(
            name: "mbox-bench-seed",
            dependencies: ["MBoxChain", "MBoxNF", "MBoxNFs", "MBoxDataPath", "MBoxTrafficGen"],
            path: "Benchmarks/Seed", swiftSettings: fastPath),

        // Tests.
        .testTarget(name: "CaptureTests", dependencies: ["MBoxCapture"], path: "Tests/CaptureTests"),
        .testTarget(name: "PacketTests", dependencies: ["MBoxPacket", "MBoxTrafficGen"], path: "Tests/PacketTests"),
        .testTarget(name: "FlowTests", dependencies: ["MBoxFlow"], path: "Tests/FlowTests"),
        .testTarget(name: "TCPMonitorTests", dependencies: ["MBoxTCP", "MBoxPacket", "MBoxTrafficGen"], path: "Tests/TCPMonitorTests"),
        .testTarget(
            name: "NFTests",
            dependencies: ["MBoxChain", "MBoxNFs", "MBoxNF", "MBoxEvents", "MBoxRules", "MBoxDataPath", "MBoxTCP", "MBoxPacket",
                           "MBoxTrafficGen"],
            path: "Tests/NFTests"),
        .testTarget(
            name: "DataPathTests",
            dependencies: ["MBoxDataPath", "MBoxTrafficGen"],
            path: "Tests/DataPathTests"),
    ]
)
