#include "CKeyring.h"

#include <errno.h>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>

// Values from <linux/keyctl.h>, spelled out so the build needs no kernel headers.
#define STSCACHE_KEY_SPEC_USER_KEYRING (-4)
#define STSCACHE_KEYCTL_GET_KEYRING_ID 0
#define STSCACHE_KEYCTL_SETPERM 5
#define STSCACHE_KEYCTL_UNLINK 9
#define STSCACHE_KEYCTL_SEARCH 10
#define STSCACHE_KEYCTL_READ 11
#define STSCACHE_KEYCTL_INVALIDATE 21

static int64_t result(long value) {
    return value < 0 ? -(int64_t)errno : (int64_t)value;
}

int32_t stscache_keyring_user_keyring_id(void) {
    return (int32_t)result(syscall(SYS_keyctl, STSCACHE_KEYCTL_GET_KEYRING_ID,
                                   STSCACHE_KEY_SPEC_USER_KEYRING, 1));
}

int32_t stscache_keyring_search(const char *description) {
    return (int32_t)result(syscall(SYS_keyctl, STSCACHE_KEYCTL_SEARCH,
                                   STSCACHE_KEY_SPEC_USER_KEYRING, "user", description, 0));
}

int64_t stscache_keyring_read(int32_t key, uint8_t *buffer, size_t capacity) {
    return result(syscall(SYS_keyctl, STSCACHE_KEYCTL_READ, key, buffer, capacity));
}

int32_t stscache_keyring_add(const char *description, const uint8_t *payload, size_t length) {
    return (int32_t)result(syscall(SYS_add_key, "user", description, payload, length,
                                   STSCACHE_KEY_SPEC_USER_KEYRING));
}

int32_t stscache_keyring_setperm(int32_t key, uint32_t permissions) {
    return (int32_t)result(syscall(SYS_keyctl, STSCACHE_KEYCTL_SETPERM, key, permissions));
}

int32_t stscache_keyring_invalidate(int32_t key) {
    return (int32_t)result(syscall(SYS_keyctl, STSCACHE_KEYCTL_INVALIDATE, key));
}

int32_t stscache_keyring_unlink(int32_t key) {
    return (int32_t)result(syscall(SYS_keyctl, STSCACHE_KEYCTL_UNLINK, key,
                                   STSCACHE_KEY_SPEC_USER_KEYRING));
}

#else

int32_t stscache_keyring_user_keyring_id(void) { return -ENOSYS; }
int32_t stscache_keyring_search(const char *description) { (void)description; return -ENOSYS; }
int64_t stscache_keyring_read(int32_t key, uint8_t *buffer, size_t capacity) {
    (void)key; (void)buffer; (void)capacity; return -ENOSYS;
}
int32_t stscache_keyring_add(const char *description, const uint8_t *payload, size_t length) {
    (void)description; (void)payload; (void)length; return -ENOSYS;
}
int32_t stscache_keyring_setperm(int32_t key, uint32_t permissions) {
    (void)key; (void)permissions; return -ENOSYS;
}
int32_t stscache_keyring_invalidate(int32_t key) { (void)key; return -ENOSYS; }
int32_t stscache_keyring_unlink(int32_t key) { (void)key; return -ENOSYS; }

#endif
