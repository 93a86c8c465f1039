// swift-tools-version:6.1
// SPDX-License-Identifier: Apache-2.0
import PackageDescription

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
        .executable(name: "tracectl", targets: ["tracectl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C: system libraries and the one BPF <-> Swift contract.
        .systemLibrary(name: "CLibbpf", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibseccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .target(name: "CVigilSandbox", dependencies: ["CLibseccomp"]),
        .target(name: "CVigilABI"),
        .target(name: "CVigilBPF", dependencies: ["CLibbpf", "CVigilABI"]),
        .target(name: "CVigilProbe", dependencies: ["CLibbpf"]),
        .target(name: "CFanotify", path: "Sources/CFanotify"),
        .target(name: "CCgroupHandle"),

        // Swift modules, one concern each.
        .target(name: "Events", dependencies: ["CVigilABI"]),
        .systemLibrary(name: "CMalloc"),
        .target(name: "ProcessCache", dependencies: ["Events", "CMalloc"]),
        .target(name: "HostFiles"),
        .target(name: "Sandbox", dependencies: ["CVigilSandbox"]),
        .target(name: "Cgroups", dependencies: ["HostFiles", "CCgroupHandle"]),
        .target(name: "FileGuard", dependencies: ["CFanotify", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Tracefs", dependencies: ["HostFiles"]),
        .target(name: "TracingPolicy", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "PolicyCompiler", dependencies: ["TracingPolicy", "Tracefs", "CVigilABI", "Events"]),
        // Kubernetes API client: pods of this node (list + watch), in-cluster config or kubeconfig.
        .target(name: "Kubernetes", dependencies: [
            "Events",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Yams", package: "Yams"),
        ]),
        // Tetragon's export filters: allow/deny lists, field filters, redaction filters.
        .target(name: "ExportFilters", dependencies: ["Events"]),
        .target(name: "Exporter", dependencies: [
            "Events", "ExportFilters", "CZlib",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The hot loop, records -> process cache -> policy events -> JSON -> export, without the
        // BPF loader: the agent, the pipeline benchmark and the pipeline tests all run this.
        .target(name: "DNSNames"),
        .target(name: "Pipeline", dependencies: ["Events", "ProcessCache", "Exporter", "PolicyCompiler", "FileGuard", "DNSNames"]),
        // What the kernel allows, probed with libbpf alone: `tracectl probe` and `validate` link
        // this, not the agent's loader and its BPF objects.
        .target(name: "KernelFeatures", dependencies: ["CLibbpf", "CVigilProbe", "CFanotify", "HostFiles"]),
        .target(name: "BPFKit", dependencies: [
            "CLibbpf", "CVigilBPF", "CVigilProbe", "CVigilABI", "Events", "HostFiles", "CFanotify", "KernelFeatures",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "VigilAgent", dependencies: [
            "BPFKit", "KernelFeatures", "Events", "ProcessCache", "Exporter", "ExportFilters", "Pipeline", "Cgroups", "PolicyCompiler",
            "TracingPolicy", "Tracefs",
            "CVigilABI", "ControlAPI", "FileGuard", "Sandbox", "HostFiles", "Kubernetes", "DNSNames",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "vigil", dependencies: [
            "VigilAgent", "BPFKit", "Sandbox", "ExportFilters",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Control API (UNIX socket HTTP+JSON, /metrics) and its client, `tracectl`.
        .target(name: "ControlAPI", dependencies: [
            "TracingPolicy", "Events", "ExportFilters",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "tracectl", dependencies: [
            "ControlAPI", "TracingPolicy", "PolicyCompiler", "Tracefs", "Events", "KernelFeatures",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        // `make bench`'s pipeline replay (bench/pipeline/main.swift): user space only, no kernel.
        // The policy parser and compiler under libFuzzer (`make fuzz`); a replay tool otherwise.
        .executableTarget(name: "vigil-policy-fuzz", dependencies: ["TracingPolicy", "PolicyCompiler", "Tracefs", "Events"], path: "Fuzz/PolicyFuzz"),
        .executableTarget(
            name: "vigil-pipeline-bench",
            dependencies: ["Events", "ProcessCache", "Exporter", "ExportFilters", "Pipeline", "PolicyCompiler", "TracingPolicy", "Tracefs"],
            path: "bench/pipeline"),

        // Test support and tests. Suites whose names carry "Kernel" need root.
        .target(name: "CSpawn", path: "Tests/CSpawn"),
        .target(name: "TestSupport", dependencies: [
            "Events", "CSpawn",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], path: "Tests/TestSupport", exclude: ["Schema"]),
        .testTarget(name: "EventsTests", dependencies: ["Events", "CVigilABI", "TestSupport"]),
        .testTarget(name: "ProcessCacheTests", dependencies: ["ProcessCache", "Events", "TestSupport"]),
        .testTarget(name: "ExporterTests", dependencies: ["Exporter", "ExportFilters", "Events", "TestSupport"]),
        // The benchmark fixture's replay output, byte for byte (bench/fixtures).
        .testTarget(
            name: "PipelineTests",
            dependencies: [
                "DNSNames",
                "Events", "ProcessCache", "Exporter", "Pipeline", "PolicyCompiler", "TracingPolicy", "Tracefs", "FileGuard",
                "CZlib", "TestSupport",
            ], exclude: ["Golden"]),
        .testTarget(name: "CgroupsTests", dependencies: ["Cgroups", "HostFiles"]),
        .testTarget(name: "TracefsTests", dependencies: ["Tracefs"]),
        .testTarget(name: "TracingPolicyTests", dependencies: ["TracingPolicy", "TestSupport"]),
        .testTarget(name: "PolicyCompilerTests", dependencies: ["PolicyCompiler", "TracingPolicy", "Tracefs", "CVigilABI", "Events", "TestSupport"]),
        .testTarget(name: "ControlAPITests", dependencies: [
            "ControlAPI", "tracectl", "TracingPolicy", "PolicyCompiler", "Tracefs", "TestSupport", "KernelFeatures", "Events",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // The policy engine's transaction and hook backends against a recording kernel (no root).
        .testTarget(name: "PolicyEngineTests", dependencies: [
            "VigilAgent", "Pipeline", "BPFKit", "PolicyCompiler", "TracingPolicy", "Tracefs", "Events", "CVigilABI", "TestSupport", "ControlAPI",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "FileGuardTests", dependencies: ["FileGuard"]),
        .testTarget(name: "DNSNamesTests", dependencies: ["DNSNames", "TestSupport"]),
        .target(name: "CSandboxProbe", dependencies: ["CVigilSandbox"], path: "Tests/CSandboxProbe"),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "CSandboxProbe"]),
        .testTarget(name: "KubernetesTests", dependencies: [
            "Kubernetes", "TestSupport", "Events", "Exporter",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "KernelIntegrationTests", dependencies: ["Events", "TestSupport", "CLibbpf"]),
    ]
)

// Upcoming features for every target, as swift-log and hummingbird do.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
    ]
}
