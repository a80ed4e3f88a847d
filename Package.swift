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
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mbox-agent", targets: ["mbox-agent"]),
        .executable(name: "mbox-trafficgen", targets: ["mbox-trafficgen"]),
        .executable(name: "mbox-controller", targets: ["mbox-controller"]),
        .executable(name: "mboxctl", targets: ["mboxctl"]),
        .executable(name: "mbox-bench-dataplane", targets: ["mbox-bench-dataplane"]),
        .executable(name: "mbox-bench-seed", targets: ["mbox-bench-seed"]),
        .executable(name: "mbox-fuzz", targets: ["mbox-fuzz"]),
        .library(name: "MBoxDataPath", targets: ["MBoxDataPath"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        // Control plane.
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // How values cross threads in the agent: the SPSC ring, files written by a thread of their own.
        .target(name: "MBoxConcurrency", dependencies: [.product(name: "Atomics", package: "swift-atomics")], path: "Agent/Concurrency",
                swiftSettings: fastPath),
        // Agent data path, in the order packets travel.
        .target(name: "MBoxCapture", path: "Agent/Capture", swiftSettings: fastPath),
        .target(name: "MBoxPacket", dependencies: ["MBoxCapture"], path: "Agent/Packet", swiftSettings: fastPath),
        .target(name: "MBoxFlow", dependencies: ["MBoxCapture", "MBoxPacket"], path: "Agent/Flow", swiftSettings: fastPath),
        .target(name: "MBoxTCPMonitor", dependencies: ["MBoxPacket", "MBoxFlow"], path: "Agent/TCPMonitor", swiftSettings: fastPath),
        // What stages emit (RSTs, handshake answers, ARP), framed and checksummed for the port.
        .target(name: "MBoxTransmit", dependencies: ["MBoxCapture", "MBoxPacket"], path: "Agent/Transmit", swiftSettings: fastPath),
        .target(name: "MBoxTCPSplicer", dependencies: ["MBoxCapture", "MBoxPacket", "MBoxFlow", "MBoxTransmit"],
                path: "Agent/TCPSplicer", swiftSettings: fastPath),
        // A TCP end the agent runs itself (sender and receiver), for the stacks that terminate connections.
        .target(name: "MBoxTCPEndpoint", dependencies: ["MBoxPacket", "MBoxTransmit"], path: "Agent/TCPEndpoint",
                swiftSettings: fastPath),
        .target(name: "MBoxTCPSplitProxy", dependencies: ["MBoxCapture", "MBoxPacket", "MBoxFlow", "MBoxTCPSplicer", "MBoxTCPEndpoint", "MBoxTransmit"],
                path: "Agent/TCPSplitProxy", swiftSettings: fastPath),
        .target(
            name: "MBoxDataPath",
            dependencies: ["MBoxCapture", "MBoxPacket", "MBoxFlow", "MBoxTCPMonitor", "MBoxTCPSplicer", "MBoxTCPSplitProxy", "MBoxTCPEndpoint",
                           "MBoxTransmit"],
            path: "Agent/DataPath", swiftSettings: fastPath),
        // Events and network functions, in the order events travel.
        .target(name: "MBoxEvents", dependencies: ["MBoxDataPath", "MBoxTCPMonitor", "MBoxFlow", "MBoxPacket", "MBoxAppLayer"],
                path: "Agent/Events", swiftSettings: fastPath),
        .target(
            name: "MBoxNFRunner",
            dependencies: ["MBoxEvents", "MBoxAppLayer", "MBoxDataPath", "MBoxTCPSplicer", "MBoxTCPSplitProxy", "MBoxTransmit",
                           "MBoxPacket", "MBoxFlow",
                           .product(name: "Atomics", package: "swift-atomics")],
            path: "Agent/NFRunner", swiftSettings: fastPath),
        .systemLibrary(name: "CHyperscan", path: "Agent/CHyperscan", pkgConfig: "libhs",
                       providers: [.apt(["libhyperscan-dev"])]),
        .systemLibrary(name: "CPCRE2", path: "Agent/CPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),
        .target(name: "MBoxRules", dependencies: ["MBoxPacket"], path: "Agent/Rules", swiftSettings: fastPath),
        .target(name: "MBoxMatch", dependencies: ["CHyperscan"], path: "Agent/Match", swiftSettings: fastPath),
        // Application-layer parsers (HTTP, TLS, DNS, SSH) feeding detection's buffers.
        .systemLibrary(name: "CZlib", path: "Agent/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "MBoxAppLayer", dependencies: ["MBoxPacket", "MBoxRules", "CZlib", .product(name: "Crypto", package: "swift-crypto")],
                path: "Agent/AppLayer", swiftSettings: fastPath),
        // Detection: rules compiled into prefilters and content inspection.
        .target(name: "MBoxDetect",
                dependencies: ["MBoxRules", "MBoxMatch", "MBoxPacket", "CPCRE2", .product(name: "Crypto", package: "swift-crypto")],
                path: "Agent/Detect", swiftSettings: fastPath),
        .target(
            name: "MBoxNFs",
            dependencies: ["MBoxNFRunner", "MBoxEvents", "MBoxRules", "MBoxMatch", "MBoxDataPath", "MBoxDetect", "MBoxAppLayer", "MBoxConcurrency",
                           .product(name: "Atomics", package: "swift-atomics")],
            path: "Agent/NFs", swiftSettings: fastPath),
        .target(
            name: "MBoxChain",
            dependencies: ["MBoxNFRunner", "MBoxNFs", "MBoxEvents", "MBoxAppLayer", "MBoxRules", "MBoxDetect", "MBoxDataPath",
                           "MBoxTCPSplicer", "MBoxTransmit", "MBoxPacket", "MBoxFlow", .product(name: "Yams", package: "Yams")],
            path: "Agent/Chain"),
        .target(name: "MBoxTrafficGen", dependencies: ["MBoxCapture"], path: "Agent/TrafficGen"),

        // DPDK ports (the fast path's port stage).
        .target(name: "CDPDK", path: "Agent/CDPDK", cSettings: dpdkC, linkerSettings: dpdkLink),
        .target(name: "MBoxDPDK", dependencies: ["CDPDK", "MBoxCapture", .product(name: "Atomics", package: "swift-atomics")],
                path: "Agent/DPDK", swiftSettings: fastPath),

        // Control plane: generated API, certificates and TLS, the controller, the agent's session.
        .target(
            name: "MBoxProto",
            dependencies: [.product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Proto/Generated"),
        .target(
            name: "MBoxControlPlane",
            dependencies: ["MBoxProto", "MBoxChain", "MBoxRules", "MBoxNFs",
                           .product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                           .product(name: "X509", package: "swift-certificates"),
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "SwiftASN1", package: "swift-asn1"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "ControlPlane"),
        .target(
            name: "MBoxControllerCore",
            dependencies: ["MBoxControlPlane", "MBoxProto", "MBoxChain",
                           .product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                           .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOTLS", package: "swift-nio"),
                           .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                           .product(name: "X509", package: "swift-certificates"),
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "SwiftASN1", package: "swift-asn1"),
                           .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "Logging", package: "swift-log")],
            path: "Controller/Core"),
        // The controller's web console (HTTPS pages over the controller's state).
        .target(
            name: "MBoxConsole",
            dependencies: ["MBoxControllerCore", "MBoxControlPlane", "MBoxProto",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "Logging", package: "swift-log")],
            path: "Controller/Console"),
        // The agent's runtime: ports (DPDK, capture files, memory), the one port loop, workers,
        // rings, helper cores, the per-worker runtime. Tests and fuzzers drive it in process.
        .target(
            name: "MBoxRuntime",
            dependencies: ["MBoxCapture", "MBoxPacket", "MBoxFlow", "MBoxDataPath", "MBoxEvents", "MBoxAppLayer", "MBoxNFRunner", "MBoxNFs",
                           "MBoxChain", "MBoxRules", "MBoxDPDK", "MBoxTransmit", "MBoxConcurrency",
                           .product(name: "Atomics", package: "swift-atomics")],
            path: "Agent/Runtime", swiftSettings: fastPath),
        .target(
            name: "MBoxAgentControl",
            dependencies: ["MBoxControlPlane", "MBoxProto", "MBoxChain", "MBoxNFRunner", "MBoxNFs", "MBoxFlow", "MBoxEvents", "MBoxRuntime",
                           "MBoxRules", "MBoxDataPath", "MBoxCapture", "MBoxPacket", "MBoxTransmit", "MBoxConcurrency",
                           .product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                           .product(name: "X509", package: "swift-certificates"),
                           .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                           .product(name: "Atomics", package: "swift-atomics")],
            path: "Agent/AgentControl"),

        // Commands.
        .executableTarget(
            name: "mbox-agent",
            dependencies: ["MBoxDataPath", "MBoxChain", "MBoxNFs", "MBoxNFRunner", "MBoxDPDK", "MBoxDetect", "MBoxFlow", "MBoxPacket", "MBoxTransmit",
                           "MBoxCapture", "MBoxAgentControl", "MBoxControlPlane", "MBoxRuntime", .product(name: "Atomics", package: "swift-atomics"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "Yams", package: "Yams")],
            path: "Agent/Commands/mbox-agent", swiftSettings: fastPath),
        .executableTarget(
            name: "mbox-trafficgen",
            dependencies: ["MBoxTrafficGen", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Agent/Commands/mbox-trafficgen"),
        .executableTarget(
            name: "mbox-controller",
            dependencies: ["MBoxControllerCore", "MBoxConsole", "MBoxControlPlane",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Controller/mbox-controller"),
        .executableTarget(
            name: "mboxctl",
            dependencies: ["MBoxControlPlane", "MBoxProto", "MBoxChain",
                           .product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tools/mboxctl"),
        .executableTarget(
            name: "mbox-bench-control",
            dependencies: ["MBoxControllerCore", "MBoxControlPlane", "MBoxProto", "MBoxAgentControl", "MBoxRuntime", "MBoxFlow", "MBoxPacket",
                           .product(name: "GRPCCore", package: "grpc-swift-2")],
            path: "Benchmarks/Control"),
        .executableTarget(
            name: "mbox-bench-dataplane",
            dependencies: ["MBoxDataPath", "MBoxTrafficGen"],
            path: "Benchmarks/DataPlane", swiftSettings: fastPath),
        .executableTarget(
            name: "mbox-bench-seed",
            dependencies: ["MBoxChain", "MBoxNFRunner", "MBoxNFs", "MBoxDataPath", "MBoxTrafficGen"],
            path: "Benchmarks/Seed", swiftSettings: fastPath),
        // Fuzz targets (scripts/fuzz.sh builds them with libFuzzer; plainly built, they replay corpora).
        .executableTarget(
            name: "mbox-fuzz",
            dependencies: ["MBoxCapture", "MBoxPacket", "MBoxDataPath", "MBoxTCPMonitor", "MBoxRules", "MBoxDetect", "MBoxChain", "MBoxAppLayer",
                           "MBoxTCPEndpoint", "MBoxTransmit", "MBoxRuntime", "MBoxNFRunner"],
            path: "Fuzz", exclude: ["corpus"]),

        // Tests.
        .testTarget(name: "CaptureTests", dependencies: ["MBoxCapture"], path: "Tests/CaptureTests"),
        .testTarget(name: "PacketTests", dependencies: ["MBoxPacket", "MBoxTrafficGen"], path: "Tests/PacketTests"),
        .testTarget(name: "FlowTests", dependencies: ["MBoxFlow"], path: "Tests/FlowTests"),
        .testTarget(name: "TCPEndpointTests", dependencies: ["MBoxTCPEndpoint", "MBoxTransmit", "MBoxPacket", "MBoxCapture"],
                    path: "Tests/TCPEndpointTests"),
        .testTarget(name: "TCPMonitorTests", dependencies: ["MBoxTCPMonitor", "MBoxPacket", "MBoxTrafficGen"], path: "Tests/TCPMonitorTests"),
        .testTarget(
            name: "NFTests",
            dependencies: ["MBoxChain", "MBoxNFs", "MBoxNFRunner", "MBoxEvents", "MBoxRules", "MBoxDetect", "MBoxDataPath", "MBoxTCPMonitor", "MBoxTCPSplitProxy",
                           "MBoxPacket", "MBoxTrafficGen", "MBoxAppLayer"],
            path: "Tests/NFTests"),
        .testTarget(name: "DetectTests", dependencies: ["MBoxDetect", "MBoxRules", "MBoxAppLayer", "MBoxPacket", "CZlib"],
                    path: "Tests/DetectTests"),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: ["MBoxControllerCore", "MBoxConsole", "MBoxControlPlane", "MBoxAgentControl", "MBoxRuntime", "MBoxProto", "MBoxTrafficGen",
                           "MBoxCapture", "MBoxDataPath", "MBoxChain", "MBoxPacket", "MBoxFlow",
                           .product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport")],
            path: "Tests/ControlPlaneTests"),
        .testTarget(name: "RuntimeTests", dependencies: ["MBoxRuntime", "MBoxConcurrency", "MBoxChain", "MBoxDataPath", "MBoxCapture",
                                                         "MBoxTrafficGen", "MBoxNFs"],
                    path: "Tests/RuntimeTests"),
        .testTarget(
            name: "DataPathTests",
            dependencies: ["MBoxDataPath", "MBoxTrafficGen", "MBoxDPDK", "MBoxTCPSplicer", "MBoxTransmit", "MBoxPacket", "MBoxCapture",
                           "MBoxFlow"],
            path: "Tests/DataPathTests"),
    ]
)
