// The one place that includes libfuse3: FUSE_USE_VERSION must precede the include,
// and a module map cannot set it.
#ifndef CFUSE_SHIM_H
#define CFUSE_SHIM_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#include <fuse3/fuse_lowlevel.h>
#include <fuse3/fuse_opt.h>

// fuse_session_new becomes a macro in 3.17; one wrapper keeps callers unchanged.
static inline struct fuse_session *cfuse_session_new(struct fuse_args *args,
                                                     const struct fuse_lowlevel_ops *op,
                                                     size_t op_size, void *userdata) {
    return fuse_session_new(args, op, op_size, userdata);
}

#endif
