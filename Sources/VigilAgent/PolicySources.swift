// SPDX-License-Identifier: Apache-2.0
import Glibc
import Logging
import TracingPolicy

/// Where policies come from: `--tracing-policy FILE` (repeatable) and `--tracing-policy-dir`.
package struct PolicySources: Sendable {
    package var files: [String] = []
    package var directory: String?
    /// Who may have written the files; nil loads any (unit tests of other parts).
    package var trust: PolicyFileTrust?

    package init(files: [String] = [], directory: String? = nil, trust: PolicyFileTrust? = .agent) {
        self.files = files
        self.directory = directory
        self.trust = trust
    }

    /// Parses every source. Problems are in `errors`, one per mistake, with file:line:column;
    /// the valid documents load regardless.
    func parse() -> PolicyParseResult {
        var result = PolicyParseResult()
        if let directory {
            if access(directory, F_OK) == 0 {
                result.append(PolicyParser.loadDirectory(directory, trust: trust))
            }
        }
        for file in files { result.append(PolicyParser.parse(fileAt: file, trust: trust)) }
        return result
    }
}
