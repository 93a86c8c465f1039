// SPDX-License-Identifier: Apache-2.0
import Foundation
import Yams

/// How to reach the API server: its URL, the CA to verify it with, and the bearer token.
package struct KubeConfig: Sendable {
    /// `https://host:port` without a trailing slash.
    package var server: String
    /// PEM of the CA bundle that signs the server's certificate; nil uses the system roots.
    package var caPEM: [UInt8]?
    /// `insecure-skip-tls-verify` from a kubeconfig.
    package var insecureSkipVerify = false
    package var token: TokenSource

    package init(server: String, caPEM: [UInt8]?, token: TokenSource, insecureSkipVerify: Bool = false) {
        var server = server
        while server.hasSuffix("/") { server.removeLast() }
        self.server = server
        self.caPEM = caPEM
        self.token = token
        self.insecureSkipVerify = insecureSkipVerify
    }

    package struct Error: Swift.Error, CustomStringConvertible {
        package var description: String
    }

    /// The default service-account volume of a pod.
    package static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// In-cluster configuration, as client-go builds it: `KUBERNETES_SERVICE_HOST` and
    /// `KUBERNETES_SERVICE_PORT` (an IPv6 host gets brackets), the CA at `ca.crt` and the token
    /// at `token` in the service-account directory. The token file is re-read when it may have
    /// been rotated (see ``TokenSource``).
    package static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = serviceAccountDirectory
    ) throws -> KubeConfig {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw Error(
                description: "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (pass --kubeconfig)")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let caPath = "\(serviceAccountDirectory)/ca.crt"
        guard let ca = FileManager.default.contents(atPath: caPath) else {
            throw Error(description: "\(caPath): cannot read the service-account CA")
        }
        let token = TokenSource(file: "\(serviceAccountDirectory)/token")
        _ = try token.current()
        return KubeConfig(server: "https://\(hostPart):\(port)", caPEM: Array(ca), token: token)
    }

    /// The current context of a kubeconfig file: its cluster's `server`,
    /// `certificate-authority` / `certificate-authority-data`, `insecure-skip-tls-verify`,
    /// and its user's `token` or `tokenFile`. Relative file names are relative to the
    /// kubeconfig's directory. Client certificates and exec plugins are not supported and are
    /// named in the error.
    package static func load(kubeconfig path: String) throws -> KubeConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Error(description: "\(path): cannot read the kubeconfig")
        }
        let file: KubeconfigFile
        do {
            file = try YAMLDecoder().decode(KubeconfigFile.self, from: data)
        } catch {
            throw Error(description: "\(path): not a kubeconfig: \(error)")
        }
        let base = (path as NSString).deletingLastPathComponent
        func resolve(_ name: String) -> String { name.hasPrefix("/") ? name : "\(base)/\(name)" }
        let contextName = file.currentContext ?? file.contexts?.first?.name
        guard let context = file.contexts?.first(where: { $0.name == contextName })?.context else {
            throw Error(description: "\(path): no context \(contextName.map { "\"\($0)\"" } ?? "") in the kubeconfig")
        }
        guard let cluster = file.clusters?.first(where: { $0.name == context.cluster })?.cluster else {
            throw Error(description: "\(path): context \"\(contextName ?? "")\" names cluster \"\(context.cluster)\", which is not in the file")
        }
        var caPEM: [UInt8]?
        if let encoded = cluster.certificateAuthorityData {
            guard let decoded = Data(base64Encoded: encoded) else {
                throw Error(description: "\(path): certificate-authority-data of cluster \"\(context.cluster)\" is not base64")
            }
            caPEM = Array(decoded)
        } else if let caFile = cluster.certificateAuthority {
            guard let ca = FileManager.default.contents(atPath: resolve(caFile)) else {
                throw Error(description: "\(path): cannot read certificate-authority \(resolve(caFile))")
            }
            caPEM = Array(ca)
        }
        let user = file.users?.first(where: { $0.name == context.user })?.user
        let token: TokenSource
        if let value = user?.token {
            token = TokenSource(fixed: value)
        } else if let tokenFile = user?.tokenFile {
            token = TokenSource(file: resolve(tokenFile))
            _ = try token.current()
        } else if user?.clientCertificate != nil || user?.clientCertificateData != nil {
            throw Error(description: "\(path): user \"\(context.user ?? "")\" uses a client certificate; Vigil supports bearer tokens (token, tokenFile) only")
        } else if user?.exec != nil {
            throw Error(description: "\(path): user \"\(context.user ?? "")\" uses an exec credential plugin; Vigil supports bearer tokens (token, tokenFile) only")
        } else {
            token = TokenSource(fixed: nil)
        }
        return KubeConfig(
            server: cluster.server, caPEM: caPEM, token: token, insecureSkipVerify: cluster.insecureSkipTLSVerify ?? false)
    }
}

private struct KubeconfigFile: Decodable {
    struct Named<T: Decodable>: Decodable {
        var name: String
        var value: T?
        enum CodingKeys: String, CodingKey { case name, cluster, context, user }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            value = try c.decodeIfPresent(T.self, forKey: .cluster) ?? c.decodeIfPresent(T.self, forKey: .context)
                ?? c.decodeIfPresent(T.self, forKey: .user)
        }
    }
    struct Cluster: Decodable {
        var server: String
        var certificateAuthority: String?
        var certificateAuthorityData: String?
        var insecureSkipTLSVerify: Bool?
        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthority = "certificate-authority"
            case certificateAuthorityData = "certificate-authority-data"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
        }
    }
    struct Context: Decodable {
        var cluster: String
        var user: String?
    }
    struct User: Decodable {
        var token: String?
        var tokenFile: String?
        var clientCertificate: String?
        var clientCertificateData: String?
        var exec: ExecPlugin?
        struct ExecPlugin: Decodable {}
        enum CodingKeys: String, CodingKey {
            case token, tokenFile, exec
            case clientCertificate = "client-certificate"
            case clientCertificateData = "client-certificate-data"
        }
    }
    var currentContext: String?
    var clusters: [Named<Cluster>]?
    var contexts: [Named<Context>]?
    var users: [Named<User>]?
    enum CodingKeys: String, CodingKey {
        case currentContext = "current-context"
        case clusters, contexts, users
    }
}

extension KubeconfigFile.Named where T == KubeconfigFile.Cluster {
    var cluster: T? { value }
}
extension KubeconfigFile.Named where T == KubeconfigFile.Context {
    var context: T? { value }
}
extension KubeconfigFile.Named where T == KubeconfigFile.User {
    var user: T? { value }
}
