#include "run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "secret.h"
#include "util.h"

#define RUN_LINE_MAX 4096
#define RUN_KILL_GRACE_MS 5000
/* After the main child exited, how long a grandchild may keep our pipes open. */
#define RUN_EXIT_DRAIN_MS 2000
/* Exit polling interval when pidfd_open() is unavailable (old kernels). */
#define RUN_TICK_MS 50
/* The close loop when close_range() is unavailable stops here. */
#define RUN_FALLBACK_FD_MAX 65536

static const char *const default_envp[] = {
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG=C.UTF-8",
        NULL,
};

typedef struct LineBuf {
        const char *stream;
        int fd;
        size_t len;
        bool after_split;  /* the last line was cut at RUN_LINE_MAX */
        char buf[RUN_LINE_MAX + 1];
} LineBuf;

/* p points into b->buf, whose extra byte makes room for the terminator. */
static void emit_line(const RunOptions *o, LineBuf *b, char *p, size_t len) {
        char saved = p[len];
        p[len] = 0;
        if (o->on_line) o->on_line(o->userdata, b->stream, p);
        p[len] = saved;
}

/* Delivers every complete line buffered; a tail of RUN_LINE_MAX bytes is delivered
 * as a line of its own (less what may begin a registered secret), a shorter tail
 * only when flushing at EOF. */
static void drain_lines(const RunOptions *o, LineBuf *b, bool flush) {
        size_t start = 0;
        char *nl;
        /* A line of exactly RUN_LINE_MAX bytes was delivered already: its newline
         * does not make an extra empty line. */
        if (b->after_split && b->len > 0) {
                if (b->buf[0] == '\n') start = 1;
                b->after_split = false;
        }
        while ((nl = memchr(b->buf + start, '\n', b->len - start))) {
                size_t l = (size_t)(nl - (b->buf + start));
                emit_line(o, b, b->buf + start, l);
                start += l + 1;
        }
        memmove(b->buf, b->buf + start, b->len - start);
        b->len -= start;
        if (b->len >= RUN_LINE_MAX && !flush) {
                /* Each piece is redacted on its own (log.c): a secret cut in two would
                 * escape it. The tail that may begin a secret goes with the next piece. */
                size_t keep = secret_partial_suffix(b->buf, b->len);
                if (keep >= b->len) keep = 0;
                b->after_split = keep == 0;
                emit_line(o, b, b->buf, b->len - keep);
                memmove(b->buf, b->buf + b->len - keep, keep);
                b->len = keep;
        } else if (b->len >= RUN_LINE_MAX || (flush && b->len > 0)) {
                b->after_split = b->len >= RUN_LINE_MAX;
                emit_line(o, b, b->buf, b->len);
                b->len = 0;
        }
}

/* Returns false on EOF or error (the fd is then closed). */
static bool read_some(const RunOptions *o, LineBuf *b) {
        ssize_t n;
        do
                n = read(b->fd, b->buf + b->len, RUN_LINE_MAX - b->len);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN) return true;
        if (n <= 0) {
                drain_lines(o, b, true);
                close(b->fd);
                b->fd = -EBADF;
                return false;
        }
        b->len += (size_t)n;
        drain_lines(o, b, false);
        return true;
}

/* In the child between fork and execve: async-signal-safe calls only. Writes errno
 * to report_fd and exits on any failure. */
_Noreturn static void child_exec(const RunOptions *o, pid_t parent, int devnull, int out_w, int err_w,
                                 int report_fd, const char *cwd, const char *const *envp) {
        int e;
        struct sigaction sa = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < NSIG; sig++)
                (void)sigaction(sig, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);

        if (setpgid(0, 0) < 0) goto fail;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) goto fail;
        /* The parent may have died before prctl(): then nobody would kill us. */
        if (getppid() != parent) _exit(127);

        /* Move every fd we need above 2 first, so dup2() onto 0..2 cannot clobber
         * one of them (the parent might have been started with stdin closed). */
        devnull = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
        out_w = fcntl(out_w, F_DUPFD_CLOEXEC, 3);
        err_w = fcntl(err_w, F_DUPFD_CLOEXEC, 3);
        report_fd = fcntl(report_fd, F_DUPFD_CLOEXEC, 3);
        if (devnull < 0 || out_w < 0 || err_w < 0 || report_fd < 0) goto fail;
        if (dup2(devnull, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0 || dup2(err_w, STDERR_FILENO) < 0)
                goto fail;
        if (report_fd != 3) {
                if (dup3(report_fd, 3, O_CLOEXEC) < 0) goto fail;
                report_fd = 3;
        }
        if (close_range(4, ~0U, 0) < 0)
                for (int fd = 4; fd < RUN_FALLBACK_FD_MAX; fd++) (void)close(fd);

        if (chdir(cwd) < 0) goto fail;
        execve(o->argv[0], (char *const *)o->argv, (char *const *)envp);
fail:
        e = errno;
        (void)!write(report_fd, &e, sizeof e);
        _exit(127);
}

static int pipe_nonblock_read(int p[2]) {
        if (pipe2(p, O_CLOEXEC) < 0) return -errno;
        int fl = fcntl(p[0], F_GETFL);
        if (fl < 0 || fcntl(p[0], F_SETFL, fl | O_NONBLOCK) < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        return 0;
}

static void close_pair(int p[2]) {
        for (int i = 0; i < 2; i++)
                if (p[i] >= 0) {
                        close(p[i]);
                        p[i] = -EBADF;
                }
}

/* Checks for exit without reaping (WNOWAIT): while the zombie exists its pid,
 * and so its process group id, cannot be reused, so kill(-pid) stays safe. */
static bool child_exited(pid_t pid) {
        siginfo_t si = {0};
        for (;;) {
                int r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT | WNOHANG);
                if (r < 0 && errno == EINTR) continue;
                if (r < 0) return true;  /* ECHILD: nothing left to wait for */
                return si.si_pid == pid;
        }
}

static int reap(pid_t pid) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) return -errno;
        return status;
}

int run_command(const RunOptions *o, RunResult *ret) {
        if (!o || !o->argv || !o->argv[0] || o->argv[0][0] != '/') return -EINVAL;
        const char *const *envp = o->envp ? o->envp : default_envp;
        const char *cwd = o->cwd ? o->cwd : "/";
        int grace = o->kill_grace_ms > 0 ? o->kill_grace_ms : RUN_KILL_GRACE_MS;

        _cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (devnull < 0) return -errno;
        int outp[2] = {-EBADF, -EBADF}, errp[2] = {-EBADF, -EBADF}, rep[2] = {-EBADF, -EBADF};
        int r = pipe_nonblock_read(outp);
        if (r >= 0) r = pipe_nonblock_read(errp);
        if (r >= 0 && pipe2(rep, O_CLOEXEC) < 0) r = -errno;
        if (r < 0) {
                close_pair(outp);
                close_pair(errp);
                close_pair(rep);
                return r;
        }

        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                close_pair(outp);
                close_pair(errp);
                close_pair(rep);
                return r;
        }
        if (pid == 0)
                child_exec(o, parent, devnull, outp[1], errp[1], rep[1], cwd, envp);

        /* Also from the parent, so kill(-pid) works even before the child ran. */
        (void)setpgid(pid, pid);
        close(outp[1]);
        close(errp[1]);
        close(rep[1]);

        /* The report pipe closes on successful execve (CLOEXEC) or carries errno. */
        int child_errno = 0;
        ssize_t n;
        do
                n = read(rep[0], &child_errno, sizeof child_errno);
        while (n < 0 && errno == EINTR);
        close(rep[0]);
        if (n == (ssize_t)sizeof child_errno) {
                close(outp[0]);
                close(errp[0]);
                (void)reap(pid);
                return -(child_errno > 0 ? child_errno : EIO);
        }

        LineBuf *bufs = calloc(2, sizeof *bufs);
        if (!bufs) {
                close(outp[0]);
                close(errp[0]);
                (void)kill(-pid, SIGKILL);
                (void)reap(pid);
                return -ENOMEM;
        }
        bufs[0].stream = "stdout";
        bufs[0].fd = outp[0];
        bufs[1].stream = "stderr";
        bufs[1].fd = errp[0];

        /* The raw syscall: glibc has the wrapper only from 2.36 (Ubuntu 22.04 has 2.35).
         * It may fail on old kernels: then we tick. */
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        int64_t start = now_monotonic_ms();
        int64_t deadline = o->timeout_ms > 0 ? start + o->timeout_ms : INT64_MAX;
        int64_t kill_at = INT64_MAX, exited_at = INT64_MAX;
        bool exited = false, timed_out = false, killed = false;

        while (bufs[0].fd >= 0 || bufs[1].fd >= 0 || !exited) {
                int64_t now = now_monotonic_ms();

                if (!exited && child_exited(pid)) {
                        exited = true;
                        exited_at = now;
                }
                if (exited && now - exited_at >= RUN_EXIT_DRAIN_MS)
                        break;  /* a leftover process holds our pipes: it is killed below */
                if (!timed_out && now >= deadline) {
                        timed_out = true;
                        (void)kill(-pid, SIGTERM);
                        kill_at = now + grace;
                }
                if (timed_out && !killed && now >= kill_at) {
                        killed = true;
                        (void)kill(-pid, SIGKILL);
                }

                if (exited && bufs[0].fd < 0 && bufs[1].fd < 0) break;

                /* Sleep until the next thing that can happen. */
                int64_t wake = INT64_MAX;
                if (!timed_out) wake = deadline;
                else if (!killed) wake = kill_at;
                if (exited) wake = wake < exited_at + RUN_EXIT_DRAIN_MS ? wake : exited_at + RUN_EXIT_DRAIN_MS;
                if (!exited && pidfd < 0) wake = wake < now + RUN_TICK_MS ? wake : now + RUN_TICK_MS;
                int wait_ms = wake == INT64_MAX ? -1 : wake - now < 0 ? 0 : wake - now > INT32_MAX ? INT32_MAX : (int)(wake - now);

                struct pollfd pfd[3];
                nfds_t np = 0;
                int idx[3];
                for (int i = 0; i < 2; i++)
                        if (bufs[i].fd >= 0) {
                                pfd[np] = (struct pollfd){.fd = bufs[i].fd, .events = POLLIN};
                                idx[np++] = i;
                        }
                if (!exited && pidfd >= 0) {
                        pfd[np] = (struct pollfd){.fd = pidfd, .events = POLLIN};
                        idx[np++] = -1;
                }
                int k = poll(pfd, np, wait_ms);
                if (k < 0 && errno != EINTR) break;
                for (nfds_t i = 0; k > 0 && i < np; i++)
                        if (idx[i] >= 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                (void)read_some(o, &bufs[idx[i]]);
        }

        /* Whatever is left of the group dies with the main child. The main child is
         * not reaped yet, so the group id cannot have been reused. */
        (void)kill(-pid, SIGKILL);
        for (int i = 0; i < 2; i++)
                if (bufs[i].fd >= 0) {
                        drain_lines(o, &bufs[i], true);
                        close(bufs[i].fd);
                }
        free(bufs);
        if (pidfd >= 0) close(pidfd);

        int status = reap(pid);
        if (status < 0) return status;

        RunResult res = {.pid = pid, .timed_out = timed_out};
        if (WIFSIGNALED(status)) {
                res.signaled = true;
                res.signal = WTERMSIG(status);
        } else
                res.exit_code = WEXITSTATUS(status);
        if (ret) *ret = res;
        return 0;
}

const char *run_result_describe(const RunResult *r, int timeout_ms, char *buf, size_t size) {
        if (!buf || size == 0) return buf;
        if (r->timed_out) {
                if (timeout_ms % 1000 == 0)
                        snprintf(buf, size, "timed out after %d s", timeout_ms / 1000);
                else
                        snprintf(buf, size, "timed out after %d ms", timeout_ms);
        } else if (r->signaled) {
                const char *abbrev = sigabbrev_np(r->signal);
                snprintf(buf, size, "killed by signal %d (%s)", r->signal, abbrev ? abbrev : "unknown");
        } else
                snprintf(buf, size, "exited with status %d", r->exit_code);
        return buf;
}
