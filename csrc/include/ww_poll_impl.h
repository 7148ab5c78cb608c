/* ww_poll_impl.h -- backend dispatch (to be written by the poller work). */
#ifndef WW_POLL_IMPL_H
#define WW_POLL_IMPL_H
#endif /* WW_POLL_IMPL_H */
