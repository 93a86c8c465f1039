// SPDX-License-Identifier: Apache-2.0

import ExportFilters

/// What the agent does for the control API. `ControlServer` turns each route into one call.
///
/// Every method may be called concurrently from several connections; implementations serialise
/// policy changes themselves (an actor, or a lock around the policy engine).
///
/// Errors are `ControlError`s whose `status` becomes the HTTP status: `.notFound` for an unknown
/// policy, `.invalidPolicy` (422) with one `file:line:column: path: message` detail per problem
/// for a policy that does not validate, `.conflict` for a name that is taken, `.internalError`
/// when the kernel refuses something.
package protocol AgentControl: Sendable {
    /// `GET /v1/status`.
    func status() async -> AgentStatus

    /// `GET /v1/policies`: every policy the agent knows, in any state, in a stable order.
    func listPolicies() async -> [PolicyInfo]

    /// `POST /v1/policies`: loads every document of `yaml` (one or more `---`-separated
    /// TracingPolicies). All or nothing: if any document does not parse, validate, compile or
    /// attach, nothing changes and the error lists every problem. `fileName` is the name used
    /// in those messages (the client's file name). `mode` overrides each document's
    /// `spec.options` `policy-mode` when given.
    ///
    /// - Returns: the policies that were added (or replaced: an `api` policy of the same
    ///   namespace/name is replaced atomically).
    func addPolicy(yaml: String, fileName: String, mode: PolicyMode?) async throws(ControlError) -> [PolicyInfo]

    /// `DELETE /v1/policies/{name}?namespace=`: detaches and forgets the policy.
    func deletePolicy(name: String, namespace: String?) async throws(ControlError)

    /// `POST /v1/policies/{name}/enable|disable`: attaches or detaches the policy's hooks
    /// without forgetting it.
    func setPolicyEnabled(name: String, namespace: String?, enabled: Bool) async throws(ControlError) -> PolicyInfo

    /// `PUT /v1/policies/{name}/mode`: switches between enforce and monitor.
    func setPolicyMode(name: String, namespace: String?, mode: PolicyMode) async throws(ControlError) -> PolicyInfo

    /// `POST /v1/policies/reload`: re-reads the policy files and directory (what SIGHUP does).
    func reloadPolicies() async throws(ControlError) -> [PolicyInfo]

    /// `GET /v1/events`: a new subscription to the exported event lines that pass `filter`.
    /// Each call returns its own stream with its own bounded buffer; the agent implements this
    /// with `EventBroadcaster.subscribe(filter:)`.
    func events(filter: EventFilter) -> EventSubscription

    /// What the event stream's Tetragon filter lines are read with: the agent's own export
    /// flags (`--enable-ancestors`, `--enable-pid-set-filter`), so a line the export takes the
    /// stream takes too.
    var streamFilterContext: ExportFilterContext { get }
}

extension AgentControl {
    /// Without export flags: no ancestors on events, no pid set.
    package var streamFilterContext: ExportFilterContext { ExportFilterContext() }

    /// Every exported line, unfiltered.
    package func events() -> EventSubscription {
        events(filter: EventFilter())
    }
}
