// swift-tools-version:6.1
// SPDX-License-Identifier: Apache-2.0
import PackageDescription

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C: system libraries and the one BPF <-> Swift contract.
        .systemLibrary(name: "CLibbpf", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CVigilABI"),
        .target(name: "CVigilBPF", dependencies: ["CLibbpf", "CVigilABI"]),

        // Swift modules, one concern each.
        .target(name: "Events", dependencies: ["CVigilABI"]),
        .target(name: "ProcessCache", dependencies: ["Events"]),
        .target(name: "Cgroups"),
        .target(name: "Tracefs"),
        .target(name: "TracingPolicy", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "PolicyCompiler", dependencies: ["TracingPolicy", "Tracefs", "CVigilABI", "Events"]),
        .target(name: "Exporter", dependencies: [
            "Events", "CZlib",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "BPFKit", dependencies: [
            "CLibbpf", "CVigilBPF", "CVigilABI", "Events",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "VigilAgent", dependencies: [
            "BPFKit", "Events", "ProcessCache", "Exporter", "Cgroups", "PolicyCompiler", "TracingPolicy", "Tracefs",
            "CVigilABI",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "vigil", dependencies: [
            "VigilAgent", "BPFKit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // Test support and tests. Suites whose names carry "Kernel" need root.
        .target(name: "CSpawn", path: "Tests/CSpawn"),
        .target(name: "TestSupport", dependencies: ["Events", "CSpawn"], path: "Tests/TestSupport"),
        .testTarget(name: "EventsTests", dependencies: ["Events", "CVigilABI", "TestSupport"]),
        .testTarget(name: "ProcessCacheTests", dependencies: ["ProcessCache", "Events", "TestSupport"]),
        .testTarget(name: "ExporterTests", dependencies: ["Exporter", "Events", "TestSupport"]),
        .testTarget(name: "CgroupsTests", dependencies: ["Cgroups"]),
        .testTarget(name: "TracefsTests", dependencies: ["Tracefs"]),
        .testTarget(name: "TracingPolicyTests", dependencies: ["TracingPolicy"]),
        .testTarget(name: "PolicyCompilerTests", dependencies: ["PolicyCompiler", "TracingPolicy", "Tracefs", "CVigilABI", "Events"]),
        .testTarget(name: "KernelIntegrationTests", dependencies: ["Events", "TestSupport"]),
    ]
)

// Upcoming features for every target, as swift-log and hummingbird do.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
    ]
}
