// SPDX-License-Identifier: Apache-2.0
import PolicyCompiler
import Testing
import TracingPolicy

/// Label selector matching (Kubernetes semantics) and the pod scope a policy compiles to.
@Suite struct PodScopeTests {
    typealias R = LabelRequirements.Requirement

    static let labels = ["app": "cart", "tier": "backend", "pod-template-hash": "5b9f7c6d8"]

    @Test(arguments: [
        ([], true),
        ([R(key: "app", operator: .in, values: ["cart"])], true),
        ([R(key: "app", operator: .in, values: ["web", "cart"])], true),
        ([R(key: "app", operator: .in, values: ["web"])], false),
        ([R(key: "missing", operator: .in, values: ["x"])], false),
        ([R(key: "app", operator: .notIn, values: ["web"])], true),
        ([R(key: "app", operator: .notIn, values: ["cart"])], false),
        // NotIn holds for a pod without the key, as in Kubernetes.
        ([R(key: "missing", operator: .notIn, values: ["x"])], true),
        ([R(key: "tier", operator: .exists)], true),
        ([R(key: "missing", operator: .exists)], false),
        ([R(key: "missing", operator: .doesNotExist)], true),
        ([R(key: "tier", operator: .doesNotExist)], false),
        // Every requirement must hold.
        ([R(key: "app", operator: .in, values: ["cart"]), R(key: "tier", operator: .in, values: ["frontend"])], false),
        ([R(key: "app", operator: .in, values: ["cart"]), R(key: "tier", operator: .exists)], true),
    ] as [([R], Bool)])
    func labelSelectorMatching(requirements: [R], expected: Bool) {
        #expect(LabelRequirements(requirements).matches(Self.labels) == expected)
    }

    @Test(arguments: [
        ("registry.example.com/shop/cart:2.4.1", "registry.example.com/shop/cart"),
        ("registry.example.com:5000/shop/cart", "registry.example.com:5000/shop/cart"),
        ("registry.example.com:5000/shop/cart:1", "registry.example.com:5000/shop/cart"),
        ("nginx", "nginx"),
        ("nginx:1.27", "nginx"),
        ("docker.io/library/nginx@sha256:0123abcd", "docker.io/library/nginx"),
        ("ghcr.io/a/b:v1@sha256:0123abcd", "ghcr.io/a/b"),
    ])
    func imageRepository(image: String, repository: String) {
        #expect(PodScope.repository(of: image) == repository)
    }

    static func policy(kind: String = "TracingPolicy", namespace: String? = nil, scope: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: \(kind)
        metadata:
          name: scoped
        \(namespace.map { "  namespace: \($0)" } ?? "")
        spec:
        \(scope.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - index: 6
              type: string
        """
    }

    static var k8s: CompileEnvironment {
        var environment = Fixture.environment
        environment.podScopesAvailable = true
        return environment
    }

    @Test func podAndContainerSelectorsCompileToAScope() throws {
        let yaml = Self.policy(scope: """
            podSelector:
              matchLabels:
                app: cart
              matchExpressions:
              - key: tier
                operator: NotIn
                values: [frontend]
            containerSelector:
              matchExpressions:
              - key: name
                operator: In
                values: [api, worker]
            """)
        let policy = try compile(yaml, environment: Self.k8s).get()
        let scope = try #require(policy.scope)
        #expect(scope.namespace == nil)
        #expect(!scope.includeHost)
        #expect(scope.selectsContainers)
        #expect(scope.description == "pods{app=cart,tier notin (frontend)} containers{name in (api,worker)}")
        #expect(scope.matches(namespace: "shop", labels: ["app": "cart"]))
        #expect(scope.matches(namespace: "other", labels: ["app": "cart", "tier": "backend"]))
        #expect(!scope.matches(namespace: "shop", labels: ["app": "cart", "tier": "frontend"]))
        #expect(!scope.matches(namespace: "shop", labels: ["app": "web"]))
        #expect(scope.matches(containerName: "api", image: "registry/api:1"))
        #expect(!scope.matches(containerName: "sidecar", image: "registry/api:1"))
        // The hooks are those of an unscoped policy: the scope lives in its own maps.
        #expect(policy.hooks.count == 1)
    }

    @Test func containerSelectorOnRepo() throws {
        let yaml = Self.policy(scope: """
            containerSelector:
              matchLabels:
                repo: registry.example.com/shop/cart
            """)
        let scope = try #require(try compile(yaml, environment: Self.k8s).get().scope)
        #expect(scope.podSelector == nil)
        #expect(scope.matches(namespace: "any", labels: [:]))
        #expect(scope.matches(containerName: "c", image: "registry.example.com/shop/cart:2.4.1"))
        #expect(!scope.matches(containerName: "c", image: "registry.example.com/shop/web:2.4.1"))
        #expect(!scope.matches(containerName: "c", image: nil))
    }

    @Test func emptyPodSelectorMeansEveryPodNotTheHost() throws {
        let pods = try #require(try compile(Self.policy(scope: "podSelector: {}"), environment: Self.k8s).get().scope)
        #expect(pods.matches(namespace: "a", labels: [:]))
        #expect(!pods.includeHost)
        let withHost = try #require(
            try compile(Self.policy(scope: "podSelector: {}\nhostSelector: {}"), environment: Self.k8s).get().scope)
        #expect(withHost.includeHost)
        #expect(withHost.description == "pods{} +host")
    }

    @Test func namespacedPolicyIsLimitedToItsNamespace() throws {
        let yaml = Self.policy(
            kind: "TracingPolicyNamespaced", namespace: "shop", scope: "podSelector:\n  matchLabels:\n    app: cart")
        let scope = try #require(try compile(yaml, environment: Self.k8s).get().scope)
        #expect(scope.namespace == "shop")
        #expect(scope.matches(namespace: "shop", labels: ["app": "cart"]))
        #expect(!scope.matches(namespace: "payments", labels: ["app": "cart"]))
        #expect(!scope.includeHost)
        #expect(scope.description == "namespace=shop pods{app=cart}")
    }

    @Test func unscopedPoliciesHaveNoScope() throws {
        #expect(try compile(Self.policy(scope: ""), environment: Self.k8s).get().scope == nil)
        // hostSelector alone does not limit anything.
        #expect(try compile(Self.policy(scope: "hostSelector: {}"), environment: Self.k8s).get().scope == nil)
    }

    @Test func containerSelectorNeedsThePodWatch() throws {
        let yaml = Self.policy(scope: "containerSelector:\n  matchLabels:\n    name: api")
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.contains("spec.containerSelector: containerSelector selects containers of pods, which needs the pod watch: start vigil with --enable-k8s-api") == true, "\(errors)")
    }

    @Test func nodeSelectorNeedsTheAPIServer() throws {
        // Without the node's labels a nodeSelector could only be ignored (node-wide): refused.
        let yaml = Self.policy(scope: "nodeSelector:\n  matchLabels:\n    role: web")
        let errors = refusal(yaml)
        #expect(errors.count == 1)
        #expect(
            errors.first?.contains(
                "spec.nodeSelector: nodeSelector runs the policy only on nodes whose labels match, which needs this node's "
                    + "labels from the API server: start vigil with --enable-k8s-api") == true, "\(errors)")
        // With the API server it compiles; where it runs is the agent's call (NodeSelectorGate).
        #expect(try compile(yaml, environment: Self.k8s).get().scope == nil)
        // An empty selector matches every node, as in Kubernetes.
        #expect(try compile(Self.policy(scope: "nodeSelector: {}")).get().scope == nil)
    }
}
