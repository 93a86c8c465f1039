// SPDX-License-Identifier: Apache-2.0
import Events
import Glibc
import ProcessCache
import Testing

@Suite struct ExecIDsTests {
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func base64MatchesRFC4648(input: String, expected: String) {
        #expect(ExecIDs.base64(Array(input.utf8)) == expected)
    }

    @Test func execIDIsBase64OfNodeKtimePid() {
        #expect(ExecIDs.make(node: "node1", ktime: 123, pid: 45) == "bm9kZTE6MTIzOjQ1")
        #expect(
            ExecIDs.make(node: "vigil-node", ktime: 1_234_567_890_123, pid: 4242)
                == "dmlnaWwtbm9kZToxMjM0NTY3ODkwMTIzOjQyNDI="
        )
        // The value in Tetragon's documented example event.
        #expect(ExecIDs.make(node: "worker-2", ktime: 8_123_456_789_012, pid: 40211) == "d29ya2VyLTI6ODEyMzQ1Njc4OTAxMjo0MDIxMQ==")
    }
}

@Suite struct SignalsTests {
    @Test(arguments: [
        (UInt32(0), String?.none), (1, "SIGHUP"), (2, "SIGINT"), (6, "SIGABRT"), (9, "SIGKILL"), (11, "SIGSEGV"),
        (15, "SIGTERM"), (17, "SIGCHLD"), (31, "SIGSYS"), (32, nil), (64, nil),
    ])
    func names(signal: UInt32, expected: String?) {
        #expect(Signals.name(signal) == expected)
    }
}

@Suite struct KtimeClockTests {
    @Test func addsBootTime() {
        let clock = KtimeClock(bootWallNanoseconds: 1_000)
        #expect(clock.wallTime(ktime: 234).nanosecondsSinceEpoch == 1_234)
        #expect(clock.wallTime(ktime: UInt64.max).nanosecondsSinceEpoch == UInt64.max)
    }

    @Test func currentMapsMonotonicNowToRealtimeNow() {
        let clock = KtimeClock.current()
        var mono = timespec()
        var real = timespec()
        clock_gettime(CLOCK_MONOTONIC, &mono)
        clock_gettime(CLOCK_REALTIME, &real)
        let monoNs = UInt64(mono.tv_sec) * 1_000_000_000 + UInt64(mono.tv_nsec)
        let realNs = UInt64(real.tv_sec) * 1_000_000_000 + UInt64(real.tv_nsec)
        let mapped = clock.wallTime(ktime: monoNs).nanosecondsSinceEpoch
        let difference = mapped > realNs ? mapped - realNs : realNs - mapped
        #expect(difference < 50_000_000)  // 50 ms: generous for a loaded CI machine
    }
}
