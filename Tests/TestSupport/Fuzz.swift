// SPDX-License-Identifier: Apache-2.0
import Foundation

/// A small, fast, seedable generator (SplitMix64), so that a failing property names the seed
/// and iteration that reproduce it.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Inputs an attacker would pick, for property tests of everything that reads untrusted data.
/// Bounded in time: `VIGIL_FUZZ_ITERATIONS` scales the runs (default: what `make test` affords),
/// `VIGIL_FUZZ_SEED` replays one seed.
package enum Fuzz {
    package static func iterations(_ standard: Int) -> Int {
        ProcessInfo.processInfo.environment["VIGIL_FUZZ_ITERATIONS"].flatMap(Int.init) ?? standard
    }

    package static var seed: UInt64 {
        ProcessInfo.processInfo.environment["VIGIL_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_0F_0616_11
    }

    /// Fragments that break naive encoders: JSON and YAML syntax, escapes, controls, invalid
    /// and valid multi-byte UTF-8, names that look like fields.
    package static let fragments: [[UInt8]] = [
        "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1b}[31m", "\u{7f}", "\u{2028}", "\u{feff}", "/", "//", "..", " ",
        "\",\"binary\":\"/bin/evil", "}\n{\"process_exec\":{}}", "\\u0000", "\\x41", "%s%n", "${IFS}", "é", "😀", "日本",
        ": ", "- ", "{", "}", "[", "]", "#", "&a", "*a", "!!str", "---", "...", "'", "|", ">",
    ].map { Array($0.utf8) } + [
        [0xFF], [0xC3], [0xE2, 0x82], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80],
        [0xF0, 0x9F, 0x98], [0xFE, 0xFF],
    ]

    /// Up to `maxLength` bytes mixing fragments, random bytes and long runs.
    package static func hostileBytes(_ rng: inout some RandomNumberGenerator, maxLength: Int) -> [UInt8] {
        var out: [UInt8] = []
        let target = Int.random(in: 0...maxLength, using: &rng)
        while out.count < target {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<4: out += fragments.randomElement(using: &rng)!
            case 4..<7: out.append(UInt8.random(in: 0...255, using: &rng))
            case 7: out += Array(repeating: UInt8.random(in: 0x20...0x7e, using: &rng), count: Int.random(in: 1...512, using: &rng))
            default: out += Array("/usr/lib/x86_64-linux-gnu/".utf8)
            }
        }
        return Array(out.prefix(max(target, 0)))
    }

    /// One random edit of `bytes`: flip, insert, delete, duplicate a range, truncate, or splice a fragment.
    package static func mutate(_ bytes: [UInt8], _ rng: inout some RandomNumberGenerator) -> [UInt8] {
        var b = bytes
        guard !b.isEmpty else { return fragments.randomElement(using: &rng)! }
        let i = Int.random(in: 0..<b.count, using: &rng)
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: b[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
        case 1: b.insert(contentsOf: fragments.randomElement(using: &rng)!, at: i)
        case 2: b.removeSubrange(i..<min(b.count, i + Int.random(in: 1...16, using: &rng)))
        case 3:
            let end = min(b.count, i + Int.random(in: 1...64, using: &rng))
            b.insert(contentsOf: b[i..<end], at: end)
        case 4: b.removeSubrange(i...)
        default: b[i] = UInt8.random(in: 0...255, using: &rng)
        }
        return b
    }
}
