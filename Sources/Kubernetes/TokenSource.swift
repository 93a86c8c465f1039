// SPDX-License-Identifier: Apache-2.0
import Foundation
import Synchronization

/// The bearer token, re-read from its file when it may have rotated.
///
/// The kubelet rewrites a projected service-account token before it expires; client-go re-reads
/// the file once a minute. So does this, and also right after the server answered 401
/// (``invalidate()``), so a rotated token is picked up on the next request.
package final class TokenSource: Sendable {
    private struct State {
        var token: String?
        var readAt: ContinuousClock.Instant?
    }

    /// The file, or nil for a fixed token.
    package let path: String?
    package let maxAge: Duration
    private let state: Mutex<State>

    package init(file: String, maxAge: Duration = .seconds(60)) {
        path = file
        self.maxAge = maxAge
        state = Mutex(State())
    }

    package init(fixed token: String?) {
        path = nil
        maxAge = .seconds(0)
        state = Mutex(State(token: token, readAt: nil))
    }

    /// The token to send; reads the file if it was never read, is older than `maxAge` or was
    /// invalidated. Throws when the file cannot be read.
    package func current() throws -> String? {
        guard let path else { return state.withLock { $0.token } }
        let now = ContinuousClock.now
        if let cached = state.withLock({ s -> String? in
            guard let readAt = s.readAt, now - readAt < maxAge else { return nil }
            return s.token
        }) {
            return cached
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KubeConfig.Error(description: "\(path): cannot read the bearer token")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        state.withLock { $0 = State(token: token, readAt: now) }
        return token
    }

    /// Forces the next ``current()`` to read the file again (after a 401).
    package func invalidate() {
        state.withLock { $0.readAt = nil }
    }
}
