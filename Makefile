# SPDX-License-Identifier: Apache-2.0
# Vigil. `make help` lists the targets.

SWIFT        ?= swift
EXPORT_FILE  ?= /var/log/vigil/events.log
VIGIL_FLAGS  ?=

.PHONY: help deps bpf build release run test test-bpf test-unit test-kernel test-kernels test-deploy bench bench-deps bench-kernels fuzz clean clean-host guest-run

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/:.*## /\t/' | expand -t 16

deps: ## install missing Debian packages (libbpf-dev, bpftool, ...)
	@./scripts/install-deps.sh

bpf: deps ## compile bpf/*.bpf.c and generate the libbpf skeleton
	$(MAKE) -C bpf

build: bpf ## debug build
	$(SWIFT) build

release: bpf ## release build (.build/release/vigil)
	$(SWIFT) build -c release

run: release ## run the agent as root with policies/: events on stdout and in $(EXPORT_FILE)
	mkdir -p $(dir $(EXPORT_FILE))
	$(if $(filter 0,$(shell id -u)),,sudo) .build/release/vigil --tracing-policy-dir $(CURDIR)/policies \
		--export-filename $(EXPORT_FILE) --export-stdout $(VIGIL_FLAGS)

# --no-parallel: the kernel suites each start agents and storms of processes; on two cores,
# running them side by side made timing-sensitive waits flaky. Serially the suite takes ~1 min.
test: bpf test-deploy test-bpf ## the whole suite: unit tests and, as root, the BPF unit tests, the kernel tests and the kernel matrix
	@# runc and busybox-static run real containers, openssl makes the fixture API server's certificate,
	@# liburing-dev builds the io_uring evasions (Tests/Tools/evade.c); rsyslog and prometheus
	@# (with promtool) read the export and the metrics in ShipperKernelTests (run from a test
	@# directory with their own config and ports; on a host with systemd, Debian's packages also
	@# enable their own system services, which the tests never use).
	@# buildah and podman build and run the agent's image (ImageKernelTests).
	@# dnsmasq-base (the binary only, no system service) answers DNSNamesKernelTests in its own netns.
	@./scripts/install-deps.sh runc busybox-static openssl liburing-dev rsyslog prometheus buildah podman dnsmasq-base
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel
	@# The matrix on the debug build just made: a release build would add minutes to CI.
	@if [ "$$(id -u)" -eq 0 ]; then \
		./scripts/install-deps.sh qemu-system-x86 busybox-static && \
		VIGIL=.build/debug/vigil ./scripts/kernel-matrix/run.sh; \
	else echo "make test: kernel matrix skipped: it needs root (BPF on the host, the agent in the guests)"; fi
	@# Last: the suite must leave no agent, pin, attached Vigil program or test cgroup behind.
	@if [ "$$(id -u)" -eq 0 ]; then ./scripts/clean-host.sh --check; fi

image: release ## the agent's OCI image with buildah (localhost/vigil:latest; IMAGE= names it): the release build and its libraries on an empty base
	@./scripts/install-deps.sh buildah
	./scripts/build-image.sh .build/release/vigil

test-kernels: release ## the scenarios on the host kernel and on Debian 5.10, 6.1 and 6.12 under qemu (root)
	./scripts/install-deps.sh qemu-system-x86 busybox-static liburing-dev
	./scripts/kernel-matrix/run.sh

bench-kernels: release ## hook cost on kernel functions, fentry against kprobe, in Debian 6.1 and 6.12 guests (root)
	./scripts/install-deps.sh qemu-system-x86 busybox-static liburing-dev
	MATRIX_MODE=bench KERNELS="$${KERNELS:-6.1 6.12}" ./scripts/kernel-matrix/run.sh

# CMD reaches the guest's shell as typed ($(value) keeps make from expanding its $). Make reports
# a non-zero status of CMD as "Error N" and exits 2, as for any failed recipe; the script exits with it.
guest-run: export GUEST_CMD := $(value CMD)
guest-run: ## CMD in a Debian guest (KERNEL=6.12, 6.1, 5.10, 6.12-nobpf) with .build/debug's vigil and tracectl
	@./scripts/install-deps.sh qemu-system-x86 busybox-static liburing-dev
	@./scripts/kernel-matrix/guest-run.sh "$(or $(KERNEL),6.12)" "$$GUEST_CMD"

test-bpf: bpf ## BPF unit tests: selectors and argument readers under BPF_PROG_TEST_RUN, the bounded path walk (root; skipped without)
	$(MAKE) -C bpf test

test-unit: bpf ## tests that need no root
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip KernelIntegrationTests

# KUBECTL: the kubectl binaries to render the kustomizations with (several: their renders must agree).
test-deploy: ## render deploy/ and its overlays with kubectl kustomize, validate them, policies/ and the detection library offline against the Kubernetes and CRD schemas
	@python3 -c 'import kubernetes_validate' 2>/dev/null || python3 -m pip install -q kubernetes-validate \
		|| python3 -m pip install -q --break-system-packages kubernetes-validate
	@# Debian's kubectl (1.20, kustomize v2.0.3) when none is on PATH.
	@command -v $${KUBECTL:-kubectl} >/dev/null 2>&1 || ./scripts/install-deps.sh kubernetes-client
	python3 scripts/validate-deploy.py

test-kernel: bpf ## kernel tests only (root)
	@./scripts/install-deps.sh runc busybox-static openssl liburing-dev rsyslog prometheus buildah podman dnsmasq-base
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel --filter KernelIntegrationTests

# BENCH_ARGS passes options to bench/run.py, e.g. BENCH_ARGS="--rounds 3 --workloads exec connect".
BENCH_ARGS ?=
bench: release bench-deps ## storms with no agent, vigil, auditd, bpftrace side by side; a uprobe loop against bpftrace; pipeline replay; memory (root)
	mkdir -p .build/bench
	$(CC) -O2 -Wall -o .build/bench/exec_storm bench/exec_storm.c
	$(CC) -O2 -Wall -o .build/bench/open_storm bench/open_storm.c
	$(CC) -O2 -Wall -pthread -o .build/bench/connect_storm bench/connect_storm.c
	$(CC) -O2 -Wall -o .build/bench/hold_procs bench/hold_procs.c
	$(CC) -O2 -Wall -o .build/bench/uprobe_loop bench/uprobe_loop.c
	$(CC) -O2 -Wall -shared -fPIC -o .build/bench/malloc_count.so bench/malloc_count.c
	python3 bench/run.py --markdown docs/benchmarks.md $(BENCH_ARGS)

bench-deps: ## auditd, the comparison `make bench` runs against (bpftrace is optional)
	@command -v auditd >/dev/null || apt-get install -y --no-install-recommends auditd

# FUZZ_SECONDS bounds the run; inputs slower than 2 s or a process past 512 MB are findings, as crashes
# are. Seeds: Tetragon's examples, policies/ and the regressions; findings land in .build/fuzz/findings.
FUZZ_SECONDS ?= 60
FUZZ_EXAMPLES ?= /work/shared/reference/tetragon-examples
fuzz: bpf ## the policy parser and compiler under libFuzzer for FUZZ_SECONDS (60)
	$(SWIFT) build --build-path .build/fuzz -c release --product vigil-policy-fuzz \
		-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
	mkdir -p .build/fuzz/corpus .build/fuzz/seeds .build/fuzz/findings
	cp policies/*.yaml policies/library/*.yaml Fuzz/regressions/* .build/fuzz/seeds/
	-find $(FUZZ_EXAMPLES) -name '*.y*ml' -exec cp {} .build/fuzz/seeds/ \; 2>/dev/null
	.build/fuzz/release/vigil-policy-fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=2 -rss_limit_mb=512 \
		-max_len=65536 -artifact_prefix=.build/fuzz/findings/ -print_final_stats=1 \
		.build/fuzz/corpus .build/fuzz/seeds

clean:
	$(MAKE) -C bpf clean
	rm -rf .build

clean-host: ## remove what Vigil left on this machine: agents, pins, attached programs, test cgroups (root)
	./scripts/clean-host.sh
