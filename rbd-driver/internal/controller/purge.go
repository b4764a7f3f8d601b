package controller

import (
	"context"
	"regexp"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// purgeTimeout bounds one background purge (queueing the mgr task, or the
// synchronous fallback).
const purgeTimeout = 2 * time.Minute

// DefaultPurgeWorkers is the default of Config.PurgeWorkers.
const DefaultPurgeWorkers = 4

// purgeQueueLen bounds the queue; a full queue purges in the caller.
const purgeQueueLen = 1024

// ourTrashName matches the images this driver trashes: volume images
// (<prefix><uuid>) and tombs.
var ourTrashName = regexp.MustCompile(`(^` + tombPrefix + `)|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$)`)

// purgeJob asks for the removal of a trashed image (id set) or for a sweep
// of a pool's trash (id empty).
type purgeJob struct {
	target backend.Target
	pool   backend.PoolRef
	id     string
}

// purger queues the mgr's `trash remove` tasks off the request path: the
// mgr answers a task request in tens to hundreds of milliseconds under
// load, which DeleteVolume need not wait for once the image is in the
// trash. The first purge of a pool in a process also sweeps the pool's
// trash for images of ours left behind by a crash between the trash move
// and the queueing; so do the next purge of a pool after a purge or a
// sweep there failed or was deferred (the cluster or the mgr was
// unavailable), and closing the purger.
type purger struct {
	be      backend.Backend
	log     *zap.Logger
	jobs    chan purgeJob
	workers sync.WaitGroup
	pending sync.WaitGroup
	mu      sync.Mutex
	swept   map[string]bool
	// failed are the sweeps of pools where a purge failed, to run at the
	// next submission there or at close.
	failed map[string]purgeJob
	closed bool
}

func newPurger(be backend.Backend, workers int, log *zap.Logger) *purger {
	p := &purger{be: be, log: log, jobs: make(chan purgeJob, purgeQueueLen), swept: map[string]bool{},
		failed: map[string]purgeJob{}}
	for i := 0; i < workers; i++ {
		p.workers.Add(1)
		go func() {
			defer p.workers.Done()
			for job := range p.jobs {
				p.run(job)
				p.pending.Done()
			}
		}()
	}
	return p
}

// submit queues the purge of a trashed image (and, once per pool, a
// sweep). With the queue full, or the purger closed, it purges in the
// caller.
func (p *purger) submit(t backend.Target, pool backend.PoolRef, id string) {
	p.enqueue(purgeJob{target: t, pool: pool, id: id})
	p.sweepOnce(t, pool)
}

// sweepOnce queues a sweep of the pool's trash unless one is done or
// queued already.
func (p *purger) sweepOnce(t backend.Target, pool backend.PoolRef) {
	key := sweepKey(t, pool)
	p.mu.Lock()
	sweep := !p.swept[key]
	p.swept[key] = true
	delete(p.failed, key)
	p.mu.Unlock()
	if sweep {
		p.enqueue(purgeJob{target: t, pool: pool})
	}
}

func sweepKey(t backend.Target, pool backend.PoolRef) string {
	return t.ClusterID + "/" + pool.Pool + "/" + pool.Namespace
}

// unswept has the next submission for the job's pool, or close, sweep
// its trash again, after a purge there failed.
func (p *purger) unswept(job purgeJob) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := sweepKey(job.target, job.pool)
	delete(p.swept, key)
	p.failed[key] = purgeJob{target: job.target, pool: job.pool}
}

// takeFailed returns the sweeps owed to pools where a purge failed.
func (p *purger) takeFailed() []purgeJob {
	p.mu.Lock()
	defer p.mu.Unlock()
	jobs := make([]purgeJob, 0, len(p.failed))
	for key, job := range p.failed {
		jobs = append(jobs, job)
		delete(p.failed, key)
	}
	return jobs
}

func (p *purger) enqueue(job purgeJob) {
	if !p.tryQueue(job) {
		p.run(job)
	}
}

// tryQueue queues job unless the purger is closed or its queue is full.
func (p *purger) tryQueue(job purgeJob) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.pending.Add(1)
	select {
	case p.jobs <- job:
		return true
	default:
		p.pending.Done()
		return false
	}
}

func (p *purger) run(job purgeJob) {
	ctx, cancel := context.WithTimeout(context.Background(), purgeTimeout)
	defer cancel()
	log := p.log.With(zap.String("cluster", job.target.ClusterID), zap.String("pool", job.pool.Pool),
		zap.String("id", job.id))
	sess, err := p.be.Connect(ctx, job.target)
	if err != nil {
		log.Warn("cannot purge the trash: no connection", zap.Error(err))
		p.unswept(job)
		return
	}
	defer sess.Release()
	if job.id == "" {
		if !p.sweep(ctx, sess, job.pool, log) {
			p.unswept(job)
		}
		return
	}
	res, err := sess.PurgeTrash(ctx, job.pool, job.id)
	switch {
	case err != nil:
		log.Warn("cannot purge a trashed image; the next purge in the pool sweeps it", zap.Error(err))
		p.unswept(job)
	case res == backend.PurgeDeferred:
		// Only without the mgr, whose tasks retry by themselves: the image
		// is still needed (clones) or busy; sweep again later.
		log.Info("trashed image kept until its clones are gone; the next purge in the pool sweeps it")
		p.unswept(job)
	}
}

// sweep purges the trashed images of ours in a pool and reports whether
// it purged (or had the mgr queue) them all.
func (p *purger) sweep(ctx context.Context, sess backend.Session, pool backend.PoolRef, log *zap.Logger) bool {
	entries, err := sess.TrashList(ctx, pool)
	if err != nil {
		log.Warn("cannot list the trash", zap.Error(err))
		return false
	}
	ok := true
	for _, e := range entries {
		if ourTrashName.MatchString(e.Name) {
			res, err := sess.PurgeTrash(ctx, pool, e.ID)
			if err != nil {
				log.Warn("cannot purge a trashed image", zap.String("image", e.Name), zap.Error(err))
			}
			ok = ok && err == nil && res != backend.PurgeDeferred
		}
	}
	return ok
}

// wait blocks until every queued job has run.
func (p *purger) wait() { p.pending.Wait() }

// close runs the queued jobs, then sweeps the pools where a purge failed,
// and stops the workers; later submissions purge in the caller.
func (p *purger) close() {
	p.wait()
	for _, job := range p.takeFailed() {
		p.enqueue(job)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.jobs)
	p.mu.Unlock()
	p.workers.Wait()
}
