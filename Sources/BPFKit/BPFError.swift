// SPDX-License-Identifier: Apache-2.0
import Glibc

/// A failure at the BPF boundary, with the operation, errno and what the user can do about it.
package struct BPFError: Error, Sendable, CustomStringConvertible {
    /// Coarse classes a caller may branch on.
    package enum Code: Sendable, Hashable {
        case permissionDenied
        case missingKernelFeature
        case verifierRejected
        case notSupported
        case abiMismatch
        case other
    }

    package var code: Code
    package var errno: Int32
    package var operation: String
    package var message: String

    package init(code: Code, errno: Int32 = 0, operation: String, message: String) {
        self.code = code
        self.errno = errno
        self.operation = operation
        self.message = message
    }

    /// Classifies a negative-errno return of libbpf.
    package init(errno: Int32, operation: String) {
        let text = String(cString: strerror(errno))
        switch errno {
        case EPERM, EACCES:
            self.init(
                code: .permissionDenied, errno: errno, operation: operation,
                message: "\(text): needs root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8)")
        case EINVAL, E2BIG:
            self.init(
                code: .verifierRejected, errno: errno, operation: operation,
                message: "\(text): the kernel rejected the program (verifier log at --log-level debug)")
        case ENOTSUP, EOPNOTSUPP, ENOENT, ESRCH:
            self.init(code: .notSupported, errno: errno, operation: operation, message: "\(text): not supported by this kernel")
        default:
            self.init(code: .other, errno: errno, operation: operation, message: text)
        }
    }

    package var description: String { "\(operation): \(message)" }
}

/// Runs a libbpf call returning 0 / negative errno; throws on failure.
@discardableResult
func checkedRC(_ operation: String, _ body: () -> Int32) throws(BPFError) -> Int32 {
    let rc = body()
    guard rc >= 0 else { throw BPFError(errno: -rc, operation: operation) }
    return rc
}
