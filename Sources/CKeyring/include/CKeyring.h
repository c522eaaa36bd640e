#ifndef STSCACHE_CKEYRING_H
#define STSCACHE_CKEYRING_H

#include <stddef.h>
#include <stdint.h>

// The Linux kernel key retention service through raw syscalls (add_key(2), keyctl(2)), so
// stscache needs no libkeyutils. Every function returns a non-negative value on success and
// -errno on failure; on other systems every call returns -ENOSYS.
//
// All operations work on keys of type "user" linked into the caller's user keyring
// (KEY_SPEC_USER_KEYRING), which every process of the same uid shares until reboot.

/// The serial of the user keyring (created if needed): a cheap probe for "is keyctl allowed".
int32_t stscache_keyring_user_keyring_id(void);

/// Searches the user keyring for a "user" key with this description: its serial, or -ENOKEY.
int32_t stscache_keyring_search(const char *description);

/// Copies up to `capacity` bytes of the key's payload; returns the payload's full length.
int64_t stscache_keyring_read(int32_t key, uint8_t *buffer, size_t capacity);

/// add_key("user", description, payload) into the user keyring: the key's serial. When a
/// writable key with that description exists the kernel updates it in place; when it exists
/// without write permission the call fails with -EACCES and leaves it untouched.
int32_t stscache_keyring_add(const char *description, const uint8_t *payload, size_t length);

/// KEYCTL_SETPERM.
int32_t stscache_keyring_setperm(int32_t key, uint32_t permissions);

/// KEYCTL_INVALIDATE: the key is destroyed for every process at once.
int32_t stscache_keyring_invalidate(int32_t key);

/// KEYCTL_UNLINK from the user keyring.
int32_t stscache_keyring_unlink(int32_t key);

#endif
