/*
 * benches.h: the functions each family file gives to the table in
 * catalog.c.  A benchmark is a row there; these are its parts.
 */
#ifndef RINGBENCH_BENCHES_H
#define RINGBENCH_BENCHES_H

#include "harness.h"

/* bench_syscall.c */
int sys_setup_devzero(struct ctx *c);
int sys_setup_file(struct ctx *c);
void sys_teardown(struct ctx *c);
void sys_null_run(struct ctx *c, uint64_t n);
void sys_read_run(struct ctx *c, uint64_t n);
void sys_clock_vdso_run(struct ctx *c, uint64_t n);
void sys_clock_kernel_run(struct ctx *c, uint64_t n);
void sys_open_close_run(struct ctx *c, uint64_t n);
void sys_stat_run(struct ctx *c, uint64_t n);

/* bench_trap.c */
int trap_rdtscp_supported(struct ctx *c, char *reason, size_t len);
int trap_signal_setup(struct ctx *c);
int trap_ud2_setup(struct ctx *c);
void trap_teardown(struct ctx *c);
void trap_cpuid_run(struct ctx *c, uint64_t n);
void trap_rdtsc_run(struct ctx *c, uint64_t n);
void trap_rdtscp_run(struct ctx *c, uint64_t n);
void trap_signal_run(struct ctx *c, uint64_t n);
void trap_ud2_run(struct ctx *c, uint64_t n);

/* bench_fault.c */
int fault_counted_supported(struct ctx *c, char *reason, size_t len);
int fault_pages_setup(struct ctx *c);
int fault_anon_prepare(struct ctx *c, uint64_t n);
int fault_cow_prepare(struct ctx *c, uint64_t n);
void fault_touch_run(struct ctx *c, uint64_t n);
void fault_unmap_finish(struct ctx *c, uint64_t n);
int fault_file_setup(struct ctx *c);
int fault_file_prepare(struct ctx *c, uint64_t n);
void fault_file_run(struct ctx *c, uint64_t n);
void fault_file_finish(struct ctx *c, uint64_t n);
int fault_mprotect_setup(struct ctx *c);
void fault_mprotect_run(struct ctx *c, uint64_t n);
void fault_teardown(struct ctx *c);

/* bench_sched.c */
int sched_pipe_1cpu_setup(struct ctx *c);
int sched_pipe_2cpu_supported(struct ctx *c, char *reason, size_t len);
int sched_pipe_2cpu_setup(struct ctx *c);
void sched_pipe_run(struct ctx *c, uint64_t n);
int sched_futex_setup(struct ctx *c);
void sched_futex_run(struct ctx *c, uint64_t n);
int sched_yield_setup(struct ctx *c);
void sched_yield_run(struct ctx *c, uint64_t n);
void sched_teardown(struct ctx *c);

/* bench_process.c */
void proc_fork_run(struct ctx *c, uint64_t n);
int proc_exec_setup(struct ctx *c);
void proc_exec_run(struct ctx *c, uint64_t n);
void proc_thread_run(struct ctx *c, uint64_t n);
void proc_teardown(struct ctx *c);

/* bench_io.c */
int io_pread_setup(struct ctx *c);
void io_pread_run(struct ctx *c, uint64_t n);
int io_write_sync_setup(struct ctx *c);
void io_write_sync_run(struct ctx *c, uint64_t n);
int io_direct_supported(struct ctx *c, char *reason, size_t len);
int io_direct_setup(struct ctx *c);
void io_direct_run(struct ctx *c, uint64_t n);
void io_teardown(struct ctx *c);

/* bench_net.c */
int net_tcp_setup(struct ctx *c);
int net_udp_setup(struct ctx *c);
void net_rr_run(struct ctx *c, uint64_t n);
void net_teardown(struct ctx *c);

/* bench_memory.c */
int mem_chase_4k_setup(struct ctx *c);
int mem_chase_huge_supported(struct ctx *c, char *reason, size_t len);
int mem_chase_huge_setup(struct ctx *c);
void mem_chase_run(struct ctx *c, uint64_t n);
int mem_copy_setup(struct ctx *c);
void mem_copy_run(struct ctx *c, uint64_t n);
void mem_teardown(struct ctx *c);

/* bench_cpu.c */
int cpu_user_setup(struct ctx *c);
void cpu_user_run(struct ctx *c, uint64_t n);
void cpu_teardown(struct ctx *c);

#endif
