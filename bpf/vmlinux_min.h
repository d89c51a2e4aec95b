/*
 * bpf/vmlinux_min.h — the kernel types bpf/stages.bpf.c needs, for build
 * machines whose kernel has no BTF (/sys/kernel/btf/vmlinux absent), where
 * `bpftool btf dump file /sys/kernel/btf/vmlinux format c` cannot generate
 * vmlinux.h. bpf/CMakeLists.txt copies it to vmlinux.h in that case only.
 *
 * The program reads no kernel structure of its own; the USDT helpers
 * (bpf/usdt.bpf.h) read the probe's registers from struct pt_regs by offset
 * and the instruction pointer through PT_REGS_IP. The x86-64 layout below is
 * the kernel's user-visible one (arch/x86/include/asm/ptrace.h), stable since
 * 2.6; preserve_access_index makes every field access a CO-RE relocation, so
 * the object still loads on a kernel that changes it.
 */
#ifndef ZKCAR_BPF_VMLINUX_MIN_H
#define ZKCAR_BPF_VMLINUX_MIN_H
/* bpf/bpf_tracing.h names the registers as the kernel does (ip, sp, di)
 * when it sees a vmlinux.h, and as the UAPI header does (rip, rsp) otherwise:
 * this header stands in for vmlinux.h, with the kernel's names. */
#define __VMLINUX_H__

#include <linux/types.h>
#include <linux/bpf.h>

typedef _Bool bool; /* as vmlinux.h has it (the libbpf headers use it) */
enum { false = 0, true = 1 };

#if !defined(__TARGET_ARCH_x86)
#error "bpf/vmlinux_min.h describes x86-64 only; build on a kernel with BTF to get vmlinux.h"
#endif

struct pt_regs {
    unsigned long r15;
    unsigned long r14;
    unsigned long r13;
    unsigned long r12;
    unsigned long bp;
    unsigned long bx;
    unsigned long r11;
    unsigned long r10;
    unsigned long r9;
    unsigned long r8;
    unsigned long ax;
    unsigned long cx;
    unsigned long dx;
    unsigned long si;
    unsigned long di;
    unsigned long orig_ax;
    unsigned long ip;
    unsigned long cs;
    unsigned long flags;
    unsigned long sp;
    unsigned long ss;
} __attribute__((preserve_access_index));

#endif
