// The Linux file calls Swift's Glibc module leaves out (GNU extensions: the module is built
// without _GNU_SOURCE; and <sys/xattr.h>). Declared here as glibc exports them; used by the blob
// files and by `pack` reading extended attributes.
#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H

#include <sys/types.h>
#include <unistd.h>
#include <sys/xattr.h>

extern int fallocate(int fd, int mode, off_t offset, off_t len);
extern ssize_t copy_file_range(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len, unsigned int flags);

// linux/falloc.h and the whence values of lseek(2), part of the kernel's ABI.
static const int clinux_falloc_keep_size = 0x01;
static const int clinux_falloc_punch_hole = 0x02;
static const int clinux_falloc_zero_range = 0x10;
static const int clinux_seek_data = 3;
static const int clinux_seek_hole = 4;

static inline int clinux_fallocate(int fd, int mode, off_t offset, off_t length) {
    return fallocate(fd, mode, offset, length);
}
static inline ssize_t clinux_copy_file_range(int in, off_t *in_offset, int out, off_t *out_offset, size_t length) {
    return copy_file_range(in, in_offset, out, out_offset, length, 0);
}

#endif
