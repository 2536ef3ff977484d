/*
 * probe.c: the CPUID facts a virtualization probe needs (PROTOCOL.md,
 * "probe").
 *
 * CPUID is the one fact a guest cannot read from a file: leaf 1 ECX bit 31
 * is the "hypervisor present" bit, and leaves 0x40000000 and up are the
 * hypervisor's own (its vendor signature in EBX, ECX, EDX, its highest leaf
 * in EAX), as in kvm-unit-tests and systemd's detect_vm_cpuid().  Under
 * binary translation the emulator answers (QEMU TCG: "TCGTCGTCGTCG"); in
 * User-Mode Linux the instruction runs natively, so the answer is the
 * outer hypervisor's.  This file only reports; it never interprets.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "probe.h"

#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#define HV_LEAF 0x40000000u
#define HV_BIT (1u << 31)

#if defined(__x86_64__)
/* Drops trailing NULs and spaces in place. */
static char *trim_end(char *s, size_t len)
{
    size_t n = strnlen(s, len);

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
        s[--n] = '\0';
    return s;
}

static void put_regs(char *out, unsigned r0, unsigned r1, unsigned r2)
{
    memcpy(out, &r0, 4);
    memcpy(out + 4, &r1, 4);
    memcpy(out + 8, &r2, 4);
}

static void cpuid_json(struct json *j)
{
    unsigned a, b, c, d, max_ext;
    char vendor[13] = "", brand[49] = "", hv[13] = "";
    int bit = 0;

    json_kbool(j, "available", 1);
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        put_regs(vendor, b, d, c);          /* EBX, EDX, ECX: "GenuineIntel" */
        json_kstr(j, "vendor", trim_end(vendor, 12));
    } else {
        json_key(j, "vendor");
        json_null(j);
    }

    max_ext = __get_cpuid_max(0x80000000u, NULL);
    json_key(j, "brand");
    if (max_ext >= 0x80000004u) {
        for (unsigned i = 0; i < 3; i++) {
            __cpuid(0x80000002u + i, a, b, c, d);
            memcpy(brand + 16 * i, &a, 4);
            memcpy(brand + 16 * i + 4, &b, 4);
            memcpy(brand + 16 * i + 8, &c, 4);
            memcpy(brand + 16 * i + 12, &d, 4);
        }
        trim_end(brand, 48);
        json_str(j, brand + strspn(brand, " "));   /* Intel pads it in front */
    } else {
        json_null(j);
    }

    if (__get_cpuid(1, &a, &b, &c, &d))
        bit = (c & HV_BIT) != 0;
    json_kbool(j, "hypervisor_bit", bit);

    /* Leaves 0x40000000 and up are only defined when the bit is set; on
     * bare metal the CPU answers them as any unknown leaf (Intel repeats
     * the highest basic leaf), which means nothing. */
    if (bit) {
        __cpuid(HV_LEAF, a, b, c, d);
        put_regs(hv, b, c, d);              /* EBX, ECX, EDX: "KVMKVMKVM\0\0\0" */
        json_kstr(j, "hypervisor_vendor", trim_end(hv, 12));
        json_kuint(j, "hypervisor_max_leaf", a);
    } else {
        json_key(j, "hypervisor_vendor");
        json_null(j);
        json_key(j, "hypervisor_max_leaf");
        json_null(j);
    }
}
#else
static void cpuid_json(struct json *j)
{
    json_kbool(j, "available", 0);
}
#endif

void rb_probe_json(struct json *j)
{
    json_obj_begin(j);
    json_kint(j, "format", RB_FORMAT);
    json_kstr(j, "arch", rb_arch());
    json_key(j, "cpuid");
    json_obj_begin(j);
    cpuid_json(j);
    json_obj_end(j);
    json_obj_end(j);
}
