/* QEMU TCG plugin (API version 1, QEMU 7.2): counts executed guest instructions, in
 * total and inside one address range [start, end), and writes both to a file at exit.
 *
 *   qemu-system-arm ... -plugin qemu_icount.so,start=0x100,end=0x400,out=counts.txt
 *
 * The count of a translation block is known when it is translated, so each block adds
 * its two numbers with inline adds when it runs: exact, repeatable and cheap. No QEMU
 * headers are needed: the few functions and types used are declared here. Built by
 * conntra (conntra/codegen/toolchain.py) with host gcc -shared -fPIC. Not a template.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*udata_cb)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t total, inside, range_start, range_end;
static char out_path[4096];

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb), k, in_range = 0;
    (void)id;
    for (k = 0; k < n; ++k) {
        uint64_t pc = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, k));
        in_range += pc >= range_start && pc < range_end;
    }
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
    if (in_range)
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &inside,
                                                 in_range);
}

static void write_counts(void)
{
    static int written;
    FILE *f;
    if (written || !out_path[0]) return;
    written = 1;
    f = fopen(out_path, "w");
    if (!f) return;
    fprintf(f, "total %" PRIu64 "\ninside %" PRIu64 "\n", total, inside);
    fclose(f);
}

static void on_exit_cb(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    write_counts();
}

/* Semihosting exit calls exit() directly; a destructor still writes the counts. */
__attribute__((destructor)) static void at_unload(void)
{
    write_counts();
}

__attribute__((visibility("default"))) int
qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; ++i) {
        if (!strncmp(argv[i], "start=", 6)) range_start = strtoull(argv[i] + 6, NULL, 0);
        else if (!strncmp(argv[i], "end=", 4)) range_end = strtoull(argv[i] + 4, NULL, 0);
        else if (!strncmp(argv[i], "out=", 4))
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        else return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
