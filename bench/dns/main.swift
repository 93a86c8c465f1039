// SPDX-License-Identifier: Apache-2.0
// The DNS name learner's throughput (--enable-dns-names, Sources/DNSNames), no kernel: a typical
// CDN answer (a CNAME, four A records, compressed owners) learnt 200,000 times across 12,500
// cgroups, then looked up; and the parser alone. Not a SwiftPM target (it needs only the
// module's two files):
//
//   swiftc -O -package-name vigil -module-name DNSBench Sources/DNSNames/*.swift bench/dns/main.swift -o /tmp/vigil-dnsbench
//   taskset -c 1 /tmp/vigil-dnsbench
import Foundation

func name(_ t: String) -> [UInt8] { t.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0] }
// www.example.com CNAME edge.cdn.net (pointer-compressed owners), 4 A records: a typical CDN answer.
var m: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0] + name("www.example.com") + [0, 1, 0, 1]
let target = name("edge.cdn.net")
m += [0xC0, 12, 0, 5, 0, 1, 0, 0, 1, 0x2C, 0, UInt8(target.count)]
let edge = m.count
m += target
for i in 0..<4 { m += [0xC0 | UInt8(edge >> 8), UInt8(edge & 0xFF), 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, UInt8(i)] }
var cache = DNSNameCache(capacity: 65536)
let n = 200_000
let start = Date()
for i in 0..<n {
    // A new cgroup every 16 answers: entries keep being made (and evicted past the capacity).
    _ = cache.learn(payload: m, cgroup: UInt64(i / 16), now: UInt64(i) * 10_000)
}
let t = Date().timeIntervalSince(start)
var lookups = 0
let s2 = Date()
for i in 0..<n { lookups += cache.names(cgroup: UInt64(i / 16), address: [192, 0, 2, UInt8(i & 3)], now: UInt64(n) * 10_000).count }
let t2 = Date().timeIntervalSince(s2)
print("answers/s \(Int(Double(n) / t)) (\(String(format: "%.2f", t / Double(n) * 1e6)) us each), lookups/s \(Int(Double(n) / t2)), entries \(cache.count), evicted \(cache.stats.evicted), names found \(lookups)")
let s3 = Date()
var b = 0
for _ in 0..<n { b += (try? DNSAnswer(parsing: m))?.bindings.count ?? 0 }
let t3 = Date().timeIntervalSince(s3)
print("parse only: \(String(format: "%.2f", t3 / Double(n) * 1e6)) us each")
