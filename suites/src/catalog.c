/*
 * catalog.c: THE table of benchmarks.  `list` prints it and `run` looks a
 * name up in it, so the catalog cannot drift from the code.  The order here
 * is the order of `list`.
 */
#define _GNU_SOURCE
#include "benches.h"

#include <string.h>

#define KIB 1024ll
#define MIB (1024ll * 1024ll)
#define BIG (1ll << 36)         /* 64 GiB: the largest size accepted */
#define FAULT_BATCH 16384       /* 64 MiB of 4 KiB pages */

static const struct param batch_pages[] = {
    { "batch_pages", FAULT_BATCH, "fresh 4 KiB pages mapped for one batch (bounds memory)",
      1, 1ll << 22, 1 },
    { NULL, 0, NULL, 0, 0, 0 },
};

static const struct param fault_file_params[] = {
    { "file_bytes", 64 * MIB, "size of the file in the page cache", 4 * KIB, BIG, 4 * KIB },
    { "stride_bytes", 64 * KIB, "distance between touches (fault-around maps 64 KiB per fault)",
      4 * KIB, 1ll << 30, 4 * KIB },
    { "batch_faults", FAULT_BATCH, "faults per batch (the file is mapped as often as needed)",
      1, 1ll << 22, 1 },
    { NULL, 0, NULL, 0, 0, 0 },
};

static const struct param mprotect_params[] = {
    { "pages", 16, "populated 4 KiB pages in the region", 1, 1ll << 20, 1 },
    { NULL, 0, NULL, 0, 0, 0 },
};

static const struct param pread_params[] = {
    { "file_bytes", 16 * MIB, "size of the file read through the page cache", 4 * KIB, BIG,
      4 * KIB },
    { NULL, 0, NULL, 0, 0, 0 },
};

static const struct param direct_params[] = {
    { "file_bytes", 64 * MIB, "size of the file read with O_DIRECT", 4 * KIB, BIG, 4 * KIB },
    { NULL, 0, NULL, 0, 0, 0 },
};

static const struct param chase_4k_params[] = {
    { "size_bytes", 256 * MIB, "size of the buffer (one line of each 4 KiB page is visited)",
      4 * KIB, BIG, 4 * KIB },
    { NULL, 0, NULL, 0, 0, 0 },
};

static const struct param chase_huge_params[] = {
    { "size_bytes", 256 * MIB, "size of the buffer (one line of each 4 KiB page is visited)",
      2 * MIB, BIG, 2 * MIB },
    { NULL, 0, NULL, 0, 0, 0 },
};

static const struct param cpu_params[] = {
    { "table_bytes", 16 * KIB, "size of the table the program loads from and stores to (a power "
      "of two)", 4 * KIB, 1ll << 30, 4 * KIB },
    { NULL, 0, NULL, 0, 0, 0 },
};

static const struct param copy_params[] = {
    { "size_bytes", 64 * MIB, "size of the source and of the destination", MIB, BIG, MIB },
    { NULL, 0, NULL, 0, 0, 0 },
};

#define ALWAYS rb_supported_always
#define X86 rb_need_x86_64
#define NONE rb_setup_none
#define NO_TEARDOWN rb_teardown_none

const struct bench rb_benches[] = {
    /* syscall: entering and leaving the kernel */
    { "syscall-null", "syscall", "ring-transition", "s/call",
      "getppid() through syscall(2): the null system call (lmbench lat_syscall null)",
      NULL, 0, ALWAYS, NONE, NULL, sys_null_run, NULL, NO_TEARDOWN },
    { "syscall-read", "syscall", "ring-transition", "s/call",
      "read() of 1 byte from /dev/zero (lmbench lat_syscall read)",
      NULL, 0, ALWAYS, sys_setup_devzero, NULL, sys_read_run, NULL, sys_teardown },
    { "syscall-clock-vdso", "syscall", "ring-transition", "s/call",
      "clock_gettime(CLOCK_MONOTONIC) through libc (vDSO where available, then no kernel entry)",
      NULL, 0, ALWAYS, NONE, NULL, sys_clock_vdso_run, NULL, NO_TEARDOWN },
    { "syscall-clock-kernel", "syscall", "ring-transition", "s/call",
      "clock_gettime(CLOCK_MONOTONIC) forced into the kernel with syscall(SYS_clock_gettime)",
      NULL, 0, ALWAYS, NONE, NULL, sys_clock_kernel_run, NULL, NO_TEARDOWN },
    { "syscall-open-close", "syscall", "ring-transition", "s/call",
      "open(O_RDONLY) and close() of a small file in --dir (lmbench lat_syscall open)",
      NULL, 0, ALWAYS, sys_setup_file, NULL, sys_open_close_run, NULL, sys_teardown },
    { "syscall-stat", "syscall", "ring-transition", "s/call",
      "stat() of a small file in --dir (lmbench lat_syscall stat)",
      NULL, 0, ALWAYS, sys_setup_file, NULL, sys_stat_run, NULL, sys_teardown },

    /* trap: intercepted instructions and exceptions */
    { "trap-cpuid", "trap", "vm-exit", "s/instruction",
      "CPUID leaf 0 (EAX=0, ECX=0): always intercepted by a hypervisor (kvm-unit-tests vmexit cpuid)",
      NULL, 0, X86, NONE, NULL, trap_cpuid_run, NULL, NO_TEARDOWN },
    { "trap-rdtsc", "trap", "vm-exit", "s/instruction",
      "RDTSC: read the time-stamp counter (an exit only where the hypervisor traps it)",
      NULL, 0, X86, NONE, NULL, trap_rdtsc_run, NULL, NO_TEARDOWN },
    { "trap-rdtscp", "trap", "vm-exit", "s/instruction",
      "RDTSCP: time-stamp counter and TSC_AUX (an exit only where the hypervisor traps it)",
      NULL, 0, trap_rdtscp_supported, NONE, NULL, trap_rdtscp_run, NULL, NO_TEARDOWN },
    { "trap-signal", "trap", "exception", "s/roundtrip",
      "raise(SIGUSR1) and return from a sigaction handler that counts it (lmbench lat_sig catch)",
      NULL, 0, ALWAYS, trap_signal_setup, NULL, trap_signal_run, NULL, trap_teardown },
    { "trap-ud2", "trap", "exception", "s/trap",
      "UD2: a #UD exception delivered as SIGILL; the handler steps RIP over it and returns",
      NULL, 0, X86, trap_ud2_setup, NULL, trap_ud2_run, NULL, trap_teardown },

    /* fault: the MMU */
    { "fault-anon", "fault", "mmu", "s/fault",
      "write fault on a fresh anonymous 4 KiB page (MADV_NOHUGEPAGE): allocate, zero and map it",
      batch_pages, FAULT_BATCH, fault_counted_supported, fault_pages_setup, fault_anon_prepare,
      fault_touch_run, fault_unmap_finish, fault_teardown },
    { "fault-file", "fault", "mmu", "s/fault",
      "read fault on a MAP_PRIVATE mapping of a file in the page cache (in --dir); one touch "
      "per 64 KiB stride, because Linux fault-around maps 16 pages (64 KiB) per read fault",
      fault_file_params, FAULT_BATCH, fault_counted_supported, fault_file_setup,
      fault_file_prepare,
      fault_file_run, fault_file_finish, fault_teardown },
    { "fault-cow", "fault", "mmu", "s/fault",
      "copy-on-write fault: write to an anonymous 4 KiB page shared with a forked child",
      batch_pages, FAULT_BATCH, fault_counted_supported, fault_pages_setup, fault_cow_prepare,
      fault_touch_run, fault_unmap_finish, fault_teardown },
    { "fault-mprotect", "fault", "mmu", "s/call",
      "mprotect() of a populated region, alternately PROT_READ and PROT_READ|PROT_WRITE, "
      "then a read of each page so the TLB refills",
      mprotect_params, 0, ALWAYS, fault_mprotect_setup, NULL, fault_mprotect_run, NULL,
      fault_teardown },

    /* sched: context switches and wake-ups */
    { "sched-pipe-1cpu", "sched", "scheduling", "s/roundtrip",
      "1-byte round trip over two pipes between two processes pinned to one CPU (--cpu or the "
      "first allowed): two context switches (lmbench lat_ctx)",
      NULL, 0, ALWAYS, sched_pipe_1cpu_setup, NULL, sched_pipe_run, NULL, sched_teardown },
    { "sched-pipe-2cpu", "sched", "scheduling", "s/roundtrip",
      "1-byte round trip over two pipes between two processes pinned to two different CPUs: "
      "cross-CPU wake-ups",
      NULL, 0, sched_pipe_2cpu_supported, sched_pipe_2cpu_setup, NULL, sched_pipe_run, NULL,
      sched_teardown },
    { "sched-futex", "sched", "scheduling", "s/roundtrip",
      "round trip between two threads through private futexes (FUTEX_WAIT/FUTEX_WAKE); "
      "unpinned within the allowed CPUs, both on --cpu when it is given",
      NULL, 0, ALWAYS, sched_futex_setup, NULL, sched_futex_run, NULL, sched_teardown },
    { "sched-yield", "sched", "scheduling", "s/call",
      "sched_yield() while a second process pinned to the same CPU also yields, so each call "
      "can switch",
      NULL, 0, ALWAYS, sched_yield_setup, NULL, sched_yield_run, NULL, sched_teardown },

    /* process: creation */
    { "proc-fork", "process", "process-creation", "s/process",
      "fork(); the child _exit(0)s; waitpid() (lmbench lat_proc fork)",
      NULL, 0, ALWAYS, NONE, NULL, proc_fork_run, NULL, NO_TEARDOWN },
    { "proc-exec", "process", "process-creation", "s/process",
      "fork(); the child execve()s this static binary's noop command; waitpid() "
      "(lmbench lat_proc exec)",
      NULL, 0, ALWAYS, proc_exec_setup, NULL, proc_exec_run, NULL, proc_teardown },
    { "proc-thread", "process", "process-creation", "s/thread",
      "pthread_create() of a thread that returns at once, then pthread_join()",
      NULL, 0, ALWAYS, NONE, NULL, proc_thread_run, NULL, NO_TEARDOWN },

    /* io: files, through the page cache and down to the device */
    { "io-pread", "io", "ring-transition", "s/read",
      "pread() of 4 KiB at sequential offsets of a file in the page cache (in --dir)",
      pread_params, 0, ALWAYS, io_pread_setup, NULL, io_pread_run, NULL, io_teardown },
    { "io-write-sync", "io", "device-emulation", "s/write",
      "pwrite() of 4 KiB then fdatasync(), cycling over a 1 MiB file in --dir",
      NULL, 0, ALWAYS, io_write_sync_setup, NULL, io_write_sync_run, NULL, io_teardown },
    { "io-direct-read", "io", "device-emulation", "s/read",
      "O_DIRECT pread() of 4 KiB at random 4 KiB-aligned offsets of a file in --dir",
      direct_params, 0, io_direct_supported, io_direct_setup, NULL, io_direct_run, NULL,
      io_teardown },

    /* net: the loopback network stack */
    { "net-tcp-rr", "net", "network-stack", "s/roundtrip",
      "1-byte TCP round trip over 127.0.0.1 with TCP_NODELAY; a forked child echoes "
      "(lmbench lat_tcp)",
      NULL, 0, ALWAYS, net_tcp_setup, NULL, net_rr_run, NULL, net_teardown },
    { "net-udp-rr", "net", "network-stack", "s/roundtrip",
      "1-byte UDP round trip over 127.0.0.1 on connected sockets; a forked child echoes "
      "(lmbench lat_udp)",
      NULL, 0, ALWAYS, net_udp_setup, NULL, net_rr_run, NULL, net_teardown },

    /* memory: translation and bandwidth */
    { "mem-chase-4k", "memory", "mmu", "s/access",
      "dependent loads along a random cycle through one 64-byte line of each 4 KiB page "
      "(MADV_NOHUGEPAGE): a TLB miss and a page walk per load",
      chase_4k_params, 0, ALWAYS, mem_chase_4k_setup, NULL, mem_chase_run, NULL,
      mem_teardown },
    { "mem-chase-huge", "memory", "mmu", "s/access",
      "the same chase (one line of each 4 KiB page) on a buffer backed by 2 MiB pages "
      "(hugetlb, else transparent huge pages)",
      chase_huge_params, 0, mem_chase_huge_supported, mem_chase_huge_setup, NULL,
      mem_chase_run, NULL, mem_teardown },
    { "mem-copy", "memory", "memory-access", "s/MiB",
      "memcpy() of 1 MiB blocks cycling through a source of size_bytes into a destination "
      "of the same size",
      copy_params, 0, ALWAYS, mem_copy_setup, NULL, mem_copy_run, NULL, mem_teardown },

    { "cpu-user", "cpu", "user-code", "s/op",
      "64 instructions of a bytecode interpreter over a 16 KiB table (loads, stores, integer "
      "and floating-point arithmetic, branches, an indirect jump each, calls through "
      "pointers): user code alone, no system call or fault",
      cpu_params, 0, ALWAYS, cpu_user_setup, NULL, cpu_user_run, NULL, cpu_teardown },
};

const size_t rb_nbenches = sizeof rb_benches / sizeof rb_benches[0];

const struct bench *rb_find_bench(const char *name)
{
    for (size_t i = 0; i < rb_nbenches; i++)
        if (strcmp(rb_benches[i].name, name) == 0)
            return &rb_benches[i];
    return NULL;
}

/* Figures that need more sampling than the run's default to hold.
 *
 * mem-copy: its noise comes in bursts longer than a default process (about
 * 0.1 s of values), memory bandwidth being shared with whatever else the
 * physical machine runs, and a process's physical pages move its figure by a
 * few percent: longer processes and more of them.  On the lab its
 * container/native ratio (truth x1.00) had a 95% interval of +-5.3 to 10.3%
 * with 10 values x 5 processes, +-3.0 to 3.5% with 40 x 10.
 *
 * syscall-null, syscall-read, trap-rdtsc: the figures every comparison starts
 * from and that a run's calibration is judged on (their ratios are known by
 * construction, analysis/calibration.py); a process of them costs about
 * 0.2 s, and with 5 processes one process pair measured in a different phase
 * of the machine widened a known-truth interval to +-6%. */
static const struct { const char *name; struct sampling s; } more_sampling[] = {
    { "mem-copy", { 4, 2 } },
    { "syscall-null", { 1, 2 } },
    { "syscall-read", { 1, 2 } },
    { "trap-rdtsc", { 1, 2 } },
};

struct sampling rb_sampling(const struct bench *b)
{
    for (size_t i = 0; i < sizeof more_sampling / sizeof more_sampling[0]; i++)
        if (strcmp(more_sampling[i].name, b->name) == 0)
            return more_sampling[i].s;
    return (struct sampling){ 1, 1 };
}
