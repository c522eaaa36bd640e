#ifndef STSCACHE_FUZZ_LIBFUZZER_H
#define STSCACHE_FUZZ_LIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver, callable from a program's own main (LLVM 11 and later). It parses the
// usual libFuzzer flags from argv and calls `UserCb` for every input. The definition comes from
// libclang_rt.fuzzer, which `swiftc -sanitize=fuzzer` links.
int LLVMFuzzerRunDriver(int *argc, char ***argv,
                        int (*UserCb)(const uint8_t *Data, size_t Size));

#endif
