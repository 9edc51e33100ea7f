/* sluice's page: a small router that renders each address (/, /runs/ID, /compare, /models,
 * /catalog, /lineage/SHA, /pipelines/NAME) from the JSON API (web/API.md), with live updates
 * over Server-Sent Events. Safety rule of this file: every value from the server reaches the
 * DOM through textContent or setAttribute of a non-URL attribute, never as markup; links are
 * built here from ids and encodeURIComponent'd names. The CSP allows no inline code. */
'use strict';

(function () {
    const main = document.getElementById('main');
    const RUN_STATUSES = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'];
    const ACTIVE = new Set(['queued', 'running', 'waiting']);
    const STEP_ACTIVE = new Set(['pending', 'running', 'retrying', 'waiting']);
    const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b',
        '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
    /* the DAG's colours (web/dag.c), for the graph drawn here when graphviz is missing */
    const STATUS_FILL = {
        pending: '#e3e6ea', queued: '#e3e6ea', running: '#9cc3f0', retrying: '#9cc3f0',
        waiting: '#f6cf8a', succeeded: '#9fdcb0', cached: '#98dcd8', skipped: '#f1f2f4',
        failed: '#f2a49c', lost: '#f2a49c', upstream_failed: '#f7bf8e', cancelled: '#b5bbc4',
    };

    let session = {authed: false};
    let cur = null; /* the page on screen: {alive, cleanups} */

    /* ---- DOM ---- */

    /* An element: props are our own attribute names; a value from data is only ever set with
     * setAttribute (inert) or textContent. href must be a path of this site. */
    function h(tag, props, ...kids) {
        const e = document.createElement(tag);
        setProps(e, props);
        add(e, kids);
        return e;
    }

    function svg(tag, props, ...kids) {
        const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
        setProps(e, props);
        add(e, kids);
        return e;
    }

    function setProps(e, props) {
        if (!props)
            return;
        for (const k of Object.keys(props)) {
            const v = props[k];
            if (v === null || v === undefined || v === false)
                continue;
            if (k === 'class')
                e.setAttribute('class', v);
            else if (k === 'text')
                e.textContent = String(v);
            else if (k.startsWith('on') && typeof v === 'function')
                e.addEventListener(k.slice(2), v);
            else if (k === 'href')
                e.setAttribute('href', safeHref(v));
            else
                e.setAttribute(k, v === true ? '' : String(v));
        }
    }

    function add(e, kids) {
        for (const k of kids.flat(Infinity)) {
            if (k === null || k === undefined || k === false)
                continue;
            e.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
        }
        return e;
    }

    /* Replace e's children (null and false kids are left out, as in h()). */
    function fill(e, ...kids) {
        e.replaceChildren();
        return add(e, kids);
    }

    /* Only this site's paths: never "javascript:", never another host ("//x"). */
    function safeHref(v) {
        const s = String(v);
        return s.startsWith('/') && !s.startsWith('//') && !s.startsWith('/\\') ? s : '#';
    }

    const enc = encodeURIComponent;
    const link = (href, ...kids) => h('a', {href}, ...kids);
    const runLink = id => link('/runs/' + Number(id), '#' + Number(id));

    function statusBadge(st, id) {
        const s = String(st || 'unknown');
        return h('span', {class: 'status st-' + s.replace(/[^a-z_]/g, ''), id}, s);
    }

    function table(cls, headers, rows) {
        return h('div', {class: 'tablewrap'},
            h('table', {class: cls},
                h('thead', null, h('tr', null, headers.map(x =>
                    typeof x === 'string' ? h('th', null, x) : h('th', {class: x.cls}, x.t)))),
                h('tbody', null, rows)));
    }

    function section(title, ...kids) {
        return h('section', null, h('h2', null, title), ...kids);
    }

    function note(text, cls) {
        return h('p', {class: cls || 'muted'}, text);
    }

    function title(t) {
        document.title = t + ' · sluice';
    }

    /* ---- formatting ---- */

    function pad(n) {
        return String(n).padStart(2, '0');
    }

    function fmtTime(iso) {
        if (!iso)
            return '–';
        const d = new Date(iso);
        if (isNaN(d))
            return String(iso);
        return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
            pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    }

    function fmtDur(ms) {
        if (ms === null || ms === undefined || isNaN(ms) || ms < 0)
            return '–';
        const s = ms / 1000;
        if (s < 10)
            return s.toFixed(1) + 's';
        if (s < 60)
            return Math.round(s) + 's';
        const m = Math.floor(s / 60);
        if (m < 60)
            return m + 'm ' + pad(Math.round(s % 60)) + 's';
        const hr = Math.floor(m / 60);
        if (hr < 48)
            return hr + 'h ' + pad(m % 60) + 'm';
        return Math.floor(hr / 24) + 'd ' + (hr % 24) + 'h';
    }

    /* Duration between two ISO times; an unset end is now. */
    function span(start, end) {
        if (!start)
            return null;
        const a = Date.parse(start), b = end ? Date.parse(end) : Date.now();
        return isNaN(a) || isNaN(b) ? null : b - a;
    }

    function fmtBytes(n) {
        if (n === null || n === undefined || isNaN(n))
            return '–';
        const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
        let i = 0, v = Number(n);
        while (v >= 1024 && i < u.length - 1) {
            v /= 1024;
            i++;
        }
        return (i ? v.toFixed(v < 10 ? 1 : 0) : String(v)) + ' ' + u[i];
    }

    function fmtNum(v) {
        if (v === null || v === undefined)
            return '–';
        if (typeof v !== 'number')
            return String(v);
        if (Number.isInteger(v))
            return String(v);
        return String(Number(v.toPrecision(6)));
    }

    function fmtValue(v) {
        if (v === null || v === undefined)
            return '–';
        if (Array.isArray(v))
            return '[' + v.map(fmtNum).join(', ') + ']';
        if (typeof v === 'object')
            return JSON.stringify(v);
        return fmtNum(v);
    }

    function short(sha) {
        return String(sha || '').slice(0, 12);
    }

    /* Where a batch executor's attempt (a Slurm job) is, as `sluice show` says it; null for a
     * local attempt. Its started_at is null until the job leaves its queue (web/API.md). */
    function jobOf(a) {
        if (!a.executor || a.executor === 'local')
            return null;
        return {
            who: a.job_id ? a.executor + ' job ' + a.job_id
                : a.executor + (a.ended_at ? ', no job' : ', not submitted yet'),
            waiting: !!a.queued_at && !a.started_at && !a.ended_at,
            never: !!a.queued_at && !a.started_at && !!a.ended_at,
            wait: a.queue_s === null || a.queue_s === undefined ? null : a.queue_s * 1000,
            reason: a.job_reason ? ' (' + a.job_reason + ')' : '',
        };
    }

    /* A job: "slurm job 8123 on n1" over "RUNNING · queued 0.4s", or "slurm job 8124" over
     * "PENDING (Resources) · waiting 12s"; on one line (joined by " · ") where oneLine. '' for
     * a local attempt. */
    function jobCell(a, oneLine) {
        const j = jobOf(a);
        if (!j)
            return '';
        const where = h('span', {class: 'job-where'}, a.job_id
            ? [a.executor + ' job ', h('span', {class: 'job-id mono'}, a.job_id)] : j.who,
            a.node ? [' on ', h('span', {class: 'job-node mono'}, a.node)] : null);
        const when = [a.job_state ? [h('b', {class: 'job-state'}, a.job_state), j.reason] : null,
            j.wait === null ? null : h('span', {class: 'job-queue'},
                (j.waiting ? 'waiting ' : 'queued ') + fmtDur(j.wait) + (j.never ? ', never started' : ''))]
            .filter(Boolean);
        return h('span', {class: 'job' + (oneLine ? '' : ' job-lines') + (j.waiting ? ' job-waiting' : '')},
            where, when.length ? [oneLine ? ' · ' : null,
                h('span', {class: 'job-when'}, when[0], when.length > 1 ? [' · ', when[1]] : null)] : null);
    }

    /* ---- the API ---- */

    async function api(path, opts) {
        const init = Object.assign({credentials: 'same-origin'}, opts || {});
        init.headers = Object.assign({Accept: 'application/json'}, init.headers || {});
        const r = await fetch(path, init);
        const text = await r.text();
        let body = null;
        try {
            body = text ? JSON.parse(text) : null;
        } catch (e) {
            body = null;
        }
        if (!r.ok) {
            const err = new Error((body && body.error) || ('HTTP ' + r.status + ' for ' + path));
            err.status = r.status;
            throw err;
        }
        return body;
    }

    function post(path, data) {
        return api(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify(data || {})});
    }

    /* The error of a mutation, with a hint when the token is what is missing. */
    function postError(e) {
        if (e.status === 401)
            return 'not allowed: open the URL that `sluice serve` printed (it carries the token), then try again';
        return e.message;
    }

    /* ---- page lifecycle ---- */

    /* Call fn at most once per ms, never two at once; later calls while one runs queue one more. */
    function coalesce(ctx, fn, ms) {
        let timer = null, running = false, again = false;
        const run = async () => {
            timer = null;
            if (!ctx.alive)
                return;
            if (running) {
                again = true;
                return;
            }
            running = true;
            try {
                await fn();
            } catch (e) {
                /* a failed refresh keeps what is shown; the next event tries again */
            } finally {
                running = false;
                if (again && ctx.alive) {
                    again = false;
                    kick();
                }
            }
        };
        const kick = () => {
            if (!timer)
                timer = setTimeout(run, ms);
        };
        ctx.cleanups.push(() => clearTimeout(timer));
        return kick;
    }

    function every(ctx, fn, ms) {
        const t = setInterval(() => {
            if (ctx.alive)
                fn();
        }, ms);
        ctx.cleanups.push(() => clearInterval(t));
    }

    function setLive(state) {
        const e = document.getElementById('live');
        e.className = 'live ' + (state ? 'on' : 'off');
        e.textContent = state ? 'live' : 'reconnecting';
    }

    /* An EventSource for this page, closed when the page goes. on maps event names (run, step,
     * audit, log) to handlers of the parsed data. */
    function listen(ctx, url, on) {
        if (!window.EventSource)
            return {close() {}};
        const es = new EventSource(url);
        es.onopen = () => setLive(true);
        es.onerror = () => setLive(false);
        for (const type of Object.keys(on)) {
            es.addEventListener(type, ev => {
                let d;
                try {
                    d = JSON.parse(ev.data);
                } catch (e) {
                    return;
                }
                if (ctx.alive && d)
                    on[type](d);
            });
        }
        ctx.cleanups.push(() => es.close());
        return es;
    }

    function chartsAvailable() {
        return typeof window.Chart === 'function';
    }

    /* A Chart.js chart in a fixed-height box; destroyed with the page. */
    function chart(ctx, config, cls) {
        if (!chartsAvailable())
            return h('p', {class: 'muted small no-chart'}, 'chart unavailable: Chart.js (Debian package ' +
                'libjs-chart.js) was not installed when sluice was built');
        const box = h('div', {class: 'chart' + (cls ? ' ' + cls : '')});
        const canvas = h('canvas', {role: 'img'});
        box.appendChild(canvas);
        config.options = Object.assign({animation: false, responsive: true,
            maintainAspectRatio: false}, config.options || {});
        const c = new window.Chart(canvas, config);
        ctx.cleanups.push(() => c.destroy());
        box.chart = c;
        return box;
    }

    function lineChart(ctx, label, series, names) {
        /* series: arrays of numbers (or null), one per dataset */
        const n = Math.max(0, ...series.map(s => (s ? s.length : 0)));
        const labels = Array.from({length: n}, (_, i) => i + 1);
        return chart(ctx, {
            type: 'line',
            data: {labels, datasets: series.map((s, i) => ({
                label: names[i], data: s || [], borderColor: PALETTE[i % PALETTE.length],
                backgroundColor: PALETTE[i % PALETTE.length], pointRadius: 2, borderWidth: 2,
                tension: 0.1, spanGaps: true,
            }))},
            options: {plugins: {legend: {display: names.length > 1},
                title: {display: true, text: label}},
            scales: {x: {title: {display: true, text: 'index'}}}},
        }, 'small');
    }

    /* ---- the router ---- */

    const routes = [
        [/^\/(?:runs\/?)?$/, pageRuns, 'runs'],
        [/^\/runs\/(\d+)$/, pageRun, 'runs'],
        [/^\/compare\/?$/, pageCompare, 'compare'],
        [/^\/models\/?$/, pageModels, 'models'],
        [/^\/models\/([^/]+)$/, pageModel, 'models'],
        [/^\/catalog\/?$/, pageCatalog, 'catalog'],
        [/^\/catalog\/([^/]+)$/, pageTable, 'catalog'],
        [/^\/lineage\/([^/]+)$/, pageLineage, 'lineage'],
        [/^\/pipelines\/?$/, pagePipelines, 'pipelines'],
        [/^\/pipelines\/([^/]+)$/, pagePipeline, 'pipelines'],
    ];

    function navigate(url, replace) {
        if (replace)
            history.replaceState(null, '', url);
        else
            history.pushState(null, '', url);
        render(!replace);
    }

    async function render(scroll) {
        if (cur) {
            cur.alive = false;
            for (const f of cur.cleanups) {
                try {
                    f();
                } catch (e) {
                    /* a cleanup that fails must not keep the next page from rendering */
                }
            }
        }
        const ctx = cur = {alive: true, cleanups: []};
        main.replaceChildren();
        main.setAttribute('data-state', 'loading');
        const live = document.getElementById('live');
        live.className = 'live';
        live.textContent = ''; /* until this page opens an event stream */
        if (scroll)
            window.scrollTo(0, 0);
        const path = location.pathname;
        let found = null, args = [];
        for (const [re, fn, nav] of routes) {
            const m = re.exec(path);
            if (m) {
                found = [fn, nav];
                try {
                    args = m.slice(1).map(decodeURIComponent);
                } catch (e) {
                    found = null;
                }
                break;
            }
        }
        for (const a of document.querySelectorAll('.nav a'))
            a.classList.toggle('active', !!found && a.getAttribute('data-nav') === found[1]);
        document.body.setAttribute('data-page', found ? found[0].name : 'none');
        if (!found) {
            title('Not found');
            main.append(h('h1', null, 'Not found'), note('No page at ' + path + '.'));
            main.setAttribute('data-state', 'ready');
            return;
        }
        try {
            await found[0](ctx, ...args);
            if (ctx.alive)
                main.setAttribute('data-state', 'ready');
        } catch (e) {
            if (!ctx.alive)
                return;
            main.append(h('p', {class: 'error', id: 'page-error'},
                e.status === 404 ? 'Not found: ' + e.message : 'Error: ' + e.message));
            main.setAttribute('data-state', 'error');
        }
    }

    /* Links of this site navigate without reloading; others (downloads, the API) load. */
    document.addEventListener('click', ev => {
        if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey)
            return;
        const a = ev.target.closest ? ev.target.closest('a') : null;
        if (!a || a.hasAttribute('download') || a.getAttribute('target'))
            return;
        const href = a.getAttribute('href');
        if (!href || !href.startsWith('/') || href.startsWith('//') || href.startsWith('/api/') ||
            href.startsWith('/static/'))
            return;
        ev.preventDefault();
        navigate(href, false);
    });
    window.addEventListener('popstate', () => render(false));

    /* ---- the graph drawn here: layered left to right (when graphviz is not there) ---- */

    /* nodes: [{id, label, fill, href, shape: 'box'|'ellipse', title}], edges: [[from, to]]. */
    function drawGraph(nodes, edges) {
        const byId = new Map(nodes.map(n => [n.id, n]));
        const layer = new Map(nodes.map(n => [n.id, 0]));
        /* longest path from the sources; n rounds suffice for a DAG, and stop a cycle */
        for (let round = 0; round < nodes.length; round++) {
            let changed = false;
            for (const [a, b] of edges) {
                if (!byId.has(a) || !byId.has(b))
                    continue;
                if (layer.get(b) < layer.get(a) + 1) {
                    layer.set(b, layer.get(a) + 1);
                    changed = true;
                }
            }
            if (!changed)
                break;
        }
        const cols = [];
        for (const n of nodes) {
            const l = layer.get(n.id);
            (cols[l] = cols[l] || []).push(n);
        }
        const W = 150, H = 34, GX = 50, GY = 16, M = 10;
        const pos = new Map();
        const tallest = Math.max(1, ...cols.map(c => (c ? c.length : 0)));
        const height = tallest * (H + GY) - GY + 2 * M;
        cols.forEach((c, i) => {
            if (!c)
                return;
            const off = (height - 2 * M - (c.length * (H + GY) - GY)) / 2;
            c.forEach((n, j) => pos.set(n.id, {x: M + i * (W + GX), y: M + off + j * (H + GY)}));
        });
        const width = cols.length * (W + GX) - GX + 2 * M;
        const root = svg('svg', {viewBox: '0 0 ' + width + ' ' + height, width, height,
            role: 'img', class: 'drawn-graph'});
        const defs = svg('defs', null, svg('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 10,
            refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
        svg('path', {d: 'M 0 0 L 10 5 L 0 10 z', fill: '#6b7380'})));
        root.appendChild(defs);
        for (const [a, b] of edges) {
            const p = pos.get(a), q = pos.get(b);
            if (!p || !q)
                continue;
            const x1 = p.x + W, y1 = p.y + H / 2, x2 = q.x, y2 = q.y + H / 2, mx = (x1 + x2) / 2;
            root.appendChild(svg('path', {d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`,
                fill: 'none', stroke: '#8a93a0', 'stroke-width': 1.3, 'marker-end': 'url(#arrow)'}));
        }
        for (const n of nodes) {
            const p = pos.get(n.id);
            const shape = n.shape === 'ellipse'
                ? svg('ellipse', {cx: p.x + W / 2, cy: p.y + H / 2, rx: W / 2, ry: H / 2,
                    fill: n.fill || '#fff', stroke: '#5d6778'})
                : svg('rect', {x: p.x, y: p.y, width: W, height: H, rx: 5, fill: n.fill || '#fff',
                    stroke: '#5d6778'});
            const label = String(n.label);
            const text = svg('text', {x: p.x + W / 2, y: p.y + H / 2 + 4, 'text-anchor': 'middle'},
                label.length > 20 ? label.slice(0, 19) + '…' : label);
            const g = svg('g', {class: 'node'}, svg('title', null, n.title || label), shape, text);
            root.appendChild(n.href ? svg('a', {href: n.href}, g) : g);
        }
        return root;
    }

    /* An <img> of a server-drawn SVG; when the server cannot draw it (no graphviz), fallback()
     * gives a replacement (or null for a note). */
    function graphImage(src, alt, fallback) {
        const box = h('div', {class: 'graph'});
        const img = h('img', {src, alt, class: 'graph-img'});
        img.addEventListener('error', () => {
            const alt2 = fallback ? fallback() : null;
            box.replaceChildren(alt2 || note('graph unavailable (graphviz is not installed)'));
        });
        box.appendChild(img);
        return box;
    }

    /* =================== pages =================== */

    /* ---- runs list ---- */

    async function pageRuns(ctx) {
        title('Runs');
        const q = new URLSearchParams(location.search);
        const pipeline = q.get('pipeline') || '', status = q.get('status') || '';
        const before = /^\d+$/.test(q.get('before') || '') ? q.get('before') : '';
        const limit = Math.min(500, Math.max(1, parseInt(q.get('limit'), 10) || 50)); /* page size */

        const pipeSel = h('select', {id: 'filter-pipeline', 'aria-label': 'pipeline'},
            h('option', {value: ''}, 'all pipelines'));
        if (pipeline)
            pipeSel.appendChild(h('option', {value: pipeline}, pipeline));
        pipeSel.value = pipeline;
        const statSel = h('select', {id: 'filter-status', 'aria-label': 'status'},
            h('option', {value: ''}, 'any status'), RUN_STATUSES.map(s => h('option', {value: s}, s)));
        statSel.value = status;
        const apply = () => {
            const p = new URLSearchParams();
            if (pipeSel.value)
                p.set('pipeline', pipeSel.value);
            if (statSel.value)
                p.set('status', statSel.value);
            const s = p.toString();
            navigate('/' + (s ? '?' + s : ''), false);
        };
        pipeSel.addEventListener('change', apply);
        statSel.addEventListener('change', apply);
        const selected = new Set();
        const compareBtn = h('button', {id: 'compare-selected', disabled: true,
            onclick: () => navigate('/compare?runs=' + [...selected].sort((a, b) => a - b).join(','))},
        'Compare selected');
        const list = h('div', {id: 'runs-list'}, note('Loading runs…'));
        const pager = h('div', {class: 'pager'});
        main.append(h('h1', null, 'Runs'),
            h('div', {class: 'filters'}, h('label', null, 'Pipeline ', pipeSel),
                h('label', null, 'Status ', statSel), compareBtn),
            list, pager);

        api('/api/pipelines').then(ps => {
            if (!ctx.alive || !Array.isArray(ps))
                return;
            for (const p of ps)
                if (!p.error && p.name !== pipeline)
                    pipeSel.appendChild(h('option', {value: p.name}, p.name));
        }).catch(() => {});

        const filterQuery = extra => {
            const p = new URLSearchParams();
            if (pipeline)
                p.set('pipeline', pipeline);
            if (status)
                p.set('status', status);
            if (limit !== 50)
                p.set('limit', limit);
            for (const k of Object.keys(extra || {}))
                p.set(k, extra[k]);
            return p.toString();
        };

        function draw(data) {
            const runs = data.runs || [];
            if (!runs.length) {
                list.replaceChildren(note(before ? 'No older runs.' :
                    'No runs yet. Start one with `sluice run FILE`, or trigger one from a pipeline’s page.'));
            } else {
                list.replaceChildren(table('runs', ['', 'Run', 'Pipeline', 'Status', 'Trigger',
                    'Created', 'Duration', 'Message'], runs.map(r => {
                    const box = h('input', {type: 'checkbox', 'aria-label': 'select run ' + r.id,
                        class: 'pick', 'data-run': r.id});
                    box.checked = selected.has(r.id);
                    box.addEventListener('change', () => {
                        if (box.checked)
                            selected.add(r.id);
                        else
                            selected.delete(r.id);
                        compareBtn.disabled = selected.size < 2;
                    });
                    return h('tr', {'data-run': r.id},
                        h('td', null, box),
                        h('td', null, runLink(r.id)),
                        h('td', null, link('/pipelines/' + enc(r.pipeline), r.pipeline)),
                        h('td', null, statusBadge(r.status)),
                        h('td', null, r.trigger || '–'),
                        h('td', null, fmtTime(r.created_at)),
                        h('td', {class: 'num'}, fmtDur(span(r.started_at, r.ended_at))),
                        h('td', {class: 'wrap small'}, r.message || ''));
                })));
            }
            pager.replaceChildren();
            if (before)
                pager.appendChild(link('/' + (filterQuery() ? '?' + filterQuery() : ''), '← newest'));
            if (data.next_before !== null && data.next_before !== undefined)
                pager.appendChild(h('a', {href: '/?' + filterQuery({before: data.next_before}),
                    id: 'older'}, 'older →'));
        }

        const load = async () => {
            const data = await api('/api/runs?' + filterQuery(Object.assign({limit},
                before ? {before} : {})));
            if (ctx.alive)
                draw(data);
        };
        await load();
        const refresh = coalesce(ctx, load, 500);
        listen(ctx, '/api/events', {run: refresh, audit: d => {
            if (d.what === 'status' || !d.step)
                refresh();
        }});
        /* durations of running runs move even when nothing is reported */
        every(ctx, () => {
            if (list.querySelector('.st-running, .st-queued, .st-waiting'))
                refresh();
        }, 5000);
    }

    /* ---- one run ---- */

    async function pageRun(ctx, idText) {
        const id = Number(idText);
        title('Run #' + id);
        const q = new URLSearchParams(location.search);
        let run = await api('/api/runs/' + id);
        if (!ctx.alive)
            return;

        const head = h('div');
        const actions = h('div', {class: 'row'});
        const approvals = h('div', {id: 'approvals'});
        const decided = h('div', {id: 'decided'}); /* what was decided here: outlives the forms */
        const dagBox = h('div', {id: 'dag'});
        const ganttBox = h('div', {id: 'gantt'});
        const stepsBox = h('div', {id: 'steps'});
        const attemptsBox = h('div', {id: 'attempts'});
        const paramsBox = h('div', {id: 'params'});
        const metricsBox = h('div', {id: 'metrics'});
        const outputsBox = h('div', {id: 'outputs'});
        const logTitle = h('h2', null, 'Log');
        const logInfo = h('div', {class: 'row small muted'});
        const logPre = h('pre', {class: 'log', id: 'log', 'aria-live': 'polite'});
        const auditBox = h('details', {id: 'audit'}, h('summary', null, 'Audit trail'));
        main.append(head, actions, decided, approvals,
            section('Graph', dagBox), section('Timeline', ganttBox), section('Steps', stepsBox),
            h('section', null, logTitle, logInfo, logPre),
            attemptsBox, section('Parameters', paramsBox), section('Metrics', metricsBox),
            section('Outputs', outputsBox), auditBox);

        auditBox.addEventListener('toggle', async () => {
            if (!auditBox.open || auditBox.querySelector('table'))
                return;
            try {
                const ev = await api('/api/runs/' + id + '/events');
                auditBox.appendChild(table('audit', ['At', 'Step', 'What', 'Detail'],
                    (ev.events || []).map(e => h('tr', null, h('td', null, fmtTime(e.at)),
                        h('td', null, e.step || '–'), h('td', null, e.what || ''),
                        h('td', {class: 'wrap'}, e.detail || '')))));
            } catch (e) {
                auditBox.appendChild(note(e.message, 'error'));
            }
        });

        /* what is drawn, so that a refresh redraws only what changed (and never a comment
         * being typed) */
        const sig = {dag: null, metrics: null, outputs: null, params: null, approvals: null};
        const log = {step: null, attempt: null, offset: 0, complete: false, lastEvent: 0,
            pinned: false, stream: null, loading: false};

        function drawHead() {
            fill(head,
                h('h1', null, 'Run #' + run.id, statusBadge(run.status, 'run-status')),
                h('div', {class: 'meta'},
                    h('span', null, 'pipeline ', link('/pipelines/' + enc(run.pipeline), run.pipeline)),
                    h('span', null, 'trigger ', h('b', null, run.trigger || '–')),
                    run.parent_run ? h('span', null, 'retry of ', runLink(run.parent_run)) : null,
                    h('span', null, 'created ', h('b', null, fmtTime(run.created_at))),
                    h('span', null, 'duration ', h('b', null, fmtDur(span(run.started_at, run.ended_at)))),
                    h('span', {title: run.version || ''}, 'version ', h('code', null, short(run.version)))),
                run.message ? h('p', {class: run.status === 'failed' ? 'error' : 'muted'}, run.message) : null);
            actions.replaceChildren();
            const msg = h('span', {class: 'small'});
            if (ACTIVE.has(run.status) && !run.cancel_requested) {
                actions.appendChild(h('button', {class: 'danger', id: 'cancel', onclick: async ev => {
                    ev.target.disabled = true;
                    try {
                        await post('/api/runs/' + id + '/cancel');
                        msg.className = 'small okmsg';
                        msg.textContent = 'cancel requested';
                        refresh();
                    } catch (e) {
                        msg.className = 'small error';
                        msg.textContent = postError(e);
                        ev.target.disabled = false;
                    }
                }}, 'Cancel run'));
            }
            if (run.status === 'failed' || run.status === 'cancelled') {
                actions.appendChild(h('button', {id: 'retry', onclick: async ev => {
                    ev.target.disabled = true;
                    try {
                        const r = await post('/api/runs/' + id + '/retry');
                        navigate('/runs/' + Number(r.id), false);
                    } catch (e) {
                        msg.className = 'small error';
                        msg.textContent = postError(e);
                        ev.target.disabled = false;
                    }
                }}, 'Retry failed steps'));
            }
            actions.appendChild(link('/compare?runs=' + id, 'compare…'));
            actions.appendChild(msg);
        }

        function drawApprovals() {
            const pending = run.pending_approvals || [];
            const s = JSON.stringify(pending);
            if (s === sig.approvals)
                return;
            sig.approvals = s;
            approvals.replaceChildren(...pending.map(step => decisionForm(
                'Waiting for approval: step ' + step, id, step, r => {
                    decided.appendChild(h('p', {class: 'okmsg decision-done'}, 'step ' + step + ' ' +
                        (r && r.decision ? r.decision : 'decided') + '; the run goes on'));
                    refresh();
                })));
        }

        function drawDag() {
            const s = run.steps.map(x => x.status).join(',');
            if (s === sig.dag)
                return;
            const first = sig.dag === null;
            sig.dag = s;
            const url = '/api/runs/' + id + '/dag.svg';
            const fallback = () => drawGraph(
                run.steps.map(st => ({id: st.name, label: st.name, fill: STATUS_FILL[st.status],
                    title: st.name + ': ' + st.status})),
                run.steps.flatMap(st => (st.needs || []).map(n => [n, st.name])));
            const img = dagBox.querySelector('img');
            if (first)
                dagBox.replaceChildren(graphImage(url, 'step graph of run ' + id, fallback));
            else if (img)
                img.src = url + '?s=' + hash(s); /* a new address: the browser fetches the new colours */
            else if (dagBox.firstChild)
                dagBox.firstChild.replaceChildren(fallback());
        }

        function drawGantt() {
            const bars = [];
            let t0 = Infinity, t1 = -Infinity;
            const push = b => {
                if (isNaN(b.a0) || isNaN(b.a1))
                    return;
                t0 = Math.min(t0, b.a0);
                t1 = Math.max(t1, b.a1);
                bars.push(b);
            };
            for (const st of run.steps) {
                const atts = (st.attempts || []).filter(a => a.started_at || a.queued_at);
                /* a step without attempts (an approval) is drawn from its own times; a batch
                 * step's are those of its job, which has not started */
                const batch = (st.attempts || []).some(a => jobOf(a));
                const parts = atts.length ? atts : (st.started_at && !batch ? [st] : []);
                for (const a of parts) {
                    const end = a.ended_at ? Date.parse(a.ended_at) : Date.now();
                    const j = jobOf(a);
                    if (j && j.wait !== null) {
                        /* the queue wait, before the run: ISO times have whole seconds, the wait
                         * has milliseconds, so it is drawn back from the start */
                        const q1 = a.started_at ? Date.parse(a.started_at) : end;
                        push({step: st.name, a0: j.waiting ? Date.parse(a.queued_at) : q1 - j.wait,
                            a1: q1, queue: true, title: st.name + ' attempt ' + a.n + ': queued ' +
                            fmtDur(j.wait) + j.reason + (j.waiting ? ', still waiting'
                                : j.never ? ', never started' : '')});
                    }
                    if (!a.started_at)
                        continue;
                    const a0 = Date.parse(a.started_at);
                    push({step: st.name, a0, a1: end, status: a.status || st.status,
                        title: st.name + (a.n ? ' attempt ' + a.n : '') + ': ' +
                            (a.status || st.status) + ', ' + fmtDur(end - a0) +
                            (j ? ' (' + j.who + (a.node ? ' on ' + a.node : '') + ')' : '')});
                }
            }
            if (!bars.length) {
                ganttBox.replaceChildren(note('No step has started yet.'));
                return;
            }
            const total = Math.max(t1 - t0, 1);
            const g = h('div', {class: 'gantt'});
            for (const st of run.steps) {
                const track = h('div', {class: 'gantt-track'});
                for (const b of bars.filter(x => x.step === st.name)) {
                    const bar = h('div', {class: 'gantt-bar ' + (b.queue ? 'gantt-queue'
                        : 'st-' + String(b.status).replace(/[^a-z_]/g, '')), title: b.title});
                    /* CSSOM properties, which the CSP allows (a style attribute it would not) */
                    bar.style.left = ((b.a0 - t0) / total * 100).toFixed(3) + '%';
                    bar.style.width = ((b.a1 - b.a0) / total * 100).toFixed(3) + '%';
                    track.appendChild(bar);
                }
                g.appendChild(h('div', {class: 'gantt-row'},
                    h('span', {class: 'gantt-name', title: st.name}, st.name), track));
            }
            g.appendChild(h('div', {class: 'gantt-axis'}, h('span', null, '0s'),
                h('span', null, fmtDur(total / 2)), h('span', null, fmtDur(total))));
            ganttBox.replaceChildren(g);
        }

        function cacheCell(st) {
            const c = st.cache || {};
            if (st.status === 'cached' || st.cached) {
                return h('span', null, statusBadge('cached'), c.hit_from_run
                    ? [' from ', runLink(c.hit_from_run)] : null);
            }
            if (c.enabled)
                return h('span', {class: 'small'}, 'miss' + (c.miss ? ': ' + c.miss : ''));
            return h('span', {class: 'muted small'}, 'off');
        }

        function drawSteps() {
            /* a Job column when any attempt ran under a batch executor: a local run is as before */
            const jobs = run.steps.some(st => (st.attempts || []).some(a => jobOf(a)));
            const jobHead = jobs ? ['Job'] : [];
            stepsBox.replaceChildren(table('steps', ['Step', 'Kind', 'Status', 'Attempts', 'Exit',
                {t: 'Duration', cls: 'num'}, {t: 'CPU', cls: 'num'}, {t: 'Peak memory', cls: 'num'},
                'Cache', ...jobHead, 'Message'], run.steps.map(st => {
                const atts = (st.attempts || []).filter(a => a.n > 0);
                const last = atts[atts.length - 1];
                const exit = last ? (last.exit !== null && last.exit !== undefined ? String(last.exit)
                    : (last.signal ? 'signal ' + last.signal : '–')) : '–';
                const tr = h('tr', {class: 'clickable' + (st.name === log.step ? ' selected' : ''),
                    'data-step': st.name, title: 'show the log of ' + st.name},
                h('td', null, h('a', {href: '/runs/' + id + '?step=' + enc(st.name),
                    class: 'step-link'}, st.name)),
                h('td', null, st.kind || ''),
                h('td', null, statusBadge(st.status)),
                h('td', {class: 'num'}, String(atts.length)),
                h('td', {class: 'num'}, exit),
                h('td', {class: 'num'}, fmtDur(span(st.started_at, st.ended_at))),
                h('td', {class: 'num'}, last && last.cpu_s !== null && last.cpu_s !== undefined
                    ? Number(last.cpu_s).toFixed(2) + 's' : '–'),
                h('td', {class: 'num'}, last && last.max_rss_kb ? fmtBytes(last.max_rss_kb * 1024) : '–'),
                h('td', null, cacheCell(st)),
                jobs ? h('td', {class: 'small'}, last ? jobCell(last) : '') : null,
                h('td', {class: 'wrap small'}, st.message || ''));
                tr.addEventListener('click', ev => {
                    ev.preventDefault();
                    follow = false;
                    selectStep(st.name, null);
                });
                return tr;
            })));
            const rows = [];
            for (const st of run.steps) {
                for (const a of st.attempts || []) {
                    rows.push(h('tr', null, h('td', null, st.name), h('td', {class: 'num'}, String(a.n)),
                        h('td', null, statusBadge(a.status)),
                        h('td', {class: 'num'}, a.exit === null || a.exit === undefined ? '–' : String(a.exit)),
                        h('td', {class: 'num'}, a.signal ? String(a.signal) : '–'),
                        h('td', null, fmtTime(a.started_at)),
                        h('td', {class: 'num'}, fmtDur(span(a.started_at, a.ended_at))),
                        h('td', {class: 'num'}, a.cpu_s !== null && a.cpu_s !== undefined ? Number(a.cpu_s).toFixed(3) + 's' : '–'),
                        h('td', {class: 'num'}, a.max_rss_kb ? fmtBytes(a.max_rss_kb * 1024) : '–'),
                        h('td', null, a.cached_from ? 'reused attempt ' + a.cached_from : ''),
                        jobs ? h('td', {class: 'small'}, jobCell(a)) : null));
                }
            }
            const open = attemptsBox.querySelector('details') && attemptsBox.querySelector('details').open;
            attemptsBox.replaceChildren(h('details', {open: !!open}, h('summary', null,
                'All attempts (' + rows.length + ')'), table('attempts', ['Step', {t: 'Attempt', cls: 'num'},
                'Status', {t: 'Exit', cls: 'num'}, {t: 'Signal', cls: 'num'}, 'Started',
                {t: 'Duration', cls: 'num'}, {t: 'CPU', cls: 'num'}, {t: 'Peak memory', cls: 'num'},
                'Cache', ...jobHead], rows)));
        }

        function drawParams() {
            const s = JSON.stringify(run.params || {});
            if (s === sig.params)
                return;
            sig.params = s;
            const names = Object.keys(run.params || {});
            paramsBox.replaceChildren(names.length ? table('params', ['Name', 'Value'], names.map(n =>
                h('tr', null, h('td', null, n), h('td', {class: 'mono'}, fmtValue(run.params[n])))))
                : note('No parameters.'));
        }

        function drawMetrics() {
            const all = run.steps.map(st => [st.name, st.metrics || {}]);
            const s = JSON.stringify(all);
            if (s === sig.metrics)
                return;
            sig.metrics = s;
            const scalars = [], series = [];
            for (const [step, m] of all) {
                for (const k of Object.keys(m)) {
                    if (Array.isArray(m[k]))
                        series.push([step + '.' + k, m[k]]);
                    else
                        scalars.push(h('tr', null, h('td', null, step), h('td', null, k),
                            h('td', {class: 'num'}, fmtNum(m[k]))));
                }
            }
            metricsBox.replaceChildren();
            if (!scalars.length && !series.length) {
                metricsBox.appendChild(note('No metrics.'));
                return;
            }
            if (scalars.length)
                metricsBox.appendChild(table('metrics', ['Step', 'Metric', {t: 'Value', cls: 'num'}], scalars));
            if (series.length)
                metricsBox.appendChild(h('div', {class: 'grid2'},
                    series.map(([k, v]) => lineChart(ctx, k, [v], [k]))));
        }

        function drawOutputs() {
            const rows = [];
            for (const st of run.steps)
                for (const o of st.outputs || [])
                    rows.push(h('tr', null, h('td', null, st.name), h('td', null, o.name),
                        h('td', {class: 'num'}, fmtBytes(o.size)),
                        h('td', {class: 'mono', title: o.sha256}, link('/lineage/' + enc(o.sha256), short(o.sha256))),
                        h('td', null, o.kind === 'dir' || o.kind === 'folder' ? '' :
                            h('a', {href: '/api/artifacts/' + enc(o.sha256), download: o.name}, 'download'))));
            const s = rows.length + ':' + JSON.stringify(run.steps.map(x => x.outputs));
            if (s === sig.outputs)
                return;
            sig.outputs = s;
            outputsBox.replaceChildren(rows.length ? table('outputs', ['Step', 'Output',
                {t: 'Size', cls: 'num'}, 'SHA-256', ''], rows) : note('No outputs yet.'));
        }

        function drawAll() {
            drawHead();
            drawApprovals();
            drawDag();
            drawGantt();
            drawSteps();
            drawParams();
            drawMetrics();
            drawOutputs();
            drawLogInfo();
        }

        /* ---- the log of the selected step: a slice by offset, then the SSE stream ---- */

        function stepByName(name) {
            return run.steps.find(s => s.name === name);
        }

        function newestAttempt(name) {
            const st = stepByName(name);
            const atts = st ? (st.attempts || []).filter(a => a.n > 0) : [];
            return atts.length ? atts[atts.length - 1].n : null;
        }

        function drawLogInfo() {
            logTitle.textContent = log.step ? 'Log of ' + log.step : 'Log';
            logInfo.replaceChildren();
            const st = log.step ? stepByName(log.step) : null;
            if (!st)
                return;
            const atts = (st.attempts || []).filter(a => a.n > 0);
            if (atts.length > 1) {
                const sel = h('select', {'aria-label': 'attempt', id: 'log-attempt'},
                    atts.map(a => h('option', {value: a.n}, 'attempt ' + a.n + ' (' + a.status + ')')));
                sel.value = String(log.attempt || atts[atts.length - 1].n);
                sel.addEventListener('change', () => {
                    follow = false;
                    selectStep(log.step, Number(sel.value));
                });
                logInfo.appendChild(sel);
            } else if (log.attempt) {
                logInfo.appendChild(h('span', null, 'attempt ' + log.attempt));
            }
            /* the job of the attempt shown, where a phone would not scroll the table to it */
            const shown = atts.find(a => a.n === log.attempt) || atts[atts.length - 1];
            if (shown && jobOf(shown))
                logInfo.appendChild(h('span', {id: 'log-job'}, jobCell(shown, true)));
            logInfo.appendChild(h('span', null, log.complete ? 'complete' :
                (STEP_ACTIVE.has(st.status) ? 'following…' : '')));
            logInfo.appendChild(h('a', {href: '/api/runs/' + id + '/steps/' + enc(log.step) +
                '/log?format=text' + (log.attempt ? '&attempt=' + log.attempt : '') +
                '&offset=0&limit=1048576', target: '_blank', rel: 'noopener'}, 'raw'));
        }

        function appendLog(text) {
            if (!text)
                return;
            const stick = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 8;
            logPre.appendChild(document.createTextNode(text));
            if (stick)
                logPre.scrollTop = logPre.scrollHeight;
        }

        async function selectStep(name, attempt) {
            log.step = name;
            log.attempt = attempt;
            log.pinned = attempt !== null && attempt !== newestAttempt(name);
            log.offset = 0;
            log.complete = false;
            logPre.replaceChildren();
            const u = new URL(location.href);
            u.searchParams.set('step', name);
            history.replaceState(null, '', u.pathname + u.search);
            for (const tr of stepsBox.querySelectorAll('tr[data-step]'))
                tr.classList.toggle('selected', tr.getAttribute('data-step') === name);
            await fetchLog(true);
            if (log.step === name && ctx.alive)
                openStream();
        }

        /* One slice of the log from log.offset (first: the last 256 KiB). */
        async function fetchLog(first) {
            if (log.loading)
                return;
            const name = log.step;
            const att = log.attempt;
            log.loading = true;
            try {
                const p = new URLSearchParams();
                if (att)
                    p.set('attempt', att);
                p.set('offset', first ? -262144 : log.offset);
                let r;
                try {
                    r = await api('/api/runs/' + id + '/steps/' + enc(name) + '/log?' + p);
                } catch (e) {
                    if (e.status === 404 && first && log.step === name) {
                        logPre.replaceChildren();
                        logInfo.replaceChildren(h('span', null, 'no log yet'));
                    }
                    return;
                }
                if (log.step !== name || log.attempt !== att || !ctx.alive)
                    return;
                if (first) {
                    logPre.replaceChildren();
                    if (r.offset > 0)
                        appendLog('… ' + fmtBytes(r.offset) + ' earlier not shown (see raw) …\n');
                } else if (r.offset !== log.offset) {
                    return; /* the stream moved on meanwhile */
                }
                log.attempt = r.attempt || att;
                appendLog(r.text);
                log.offset = r.next_offset;
                log.complete = !!r.complete;
                drawLogInfo();
            } finally {
                log.loading = false;
            }
        }

        function onLog(d) {
            if (d.step !== log.step || Number(d.run) !== id || log.pinned)
                return;
            log.lastEvent = Date.now();
            if (log.attempt !== null && d.attempt !== log.attempt) {
                if (d.attempt < log.attempt || d.offset !== 0)
                    return;
                log.attempt = d.attempt;
                log.offset = 0;
                log.complete = false;
                logPre.replaceChildren();
                appendLog('— attempt ' + d.attempt + ' —\n');
                drawLogInfo();
            }
            if (log.attempt === null)
                log.attempt = d.attempt;
            if (d.offset !== log.offset)
                return;
            appendLog(d.text);
            log.offset = d.next_offset;
        }

        const refresh = coalesce(ctx, async () => {
            const r = await api('/api/runs/' + id);
            if (!ctx.alive)
                return;
            run = r;
            drawAll();
            /* until a step is picked by hand, the log follows the step that runs now */
            const now = follow && run.steps.find(st => st.status === 'running' || st.status === 'retrying');
            if (now && now.name !== log.step) {
                selectStep(now.name, null);
            } else if (log.step && !log.pinned && log.complete) {
                /* a retry started a newer attempt than the one shown */
                const n = newestAttempt(log.step);
                if (n && log.attempt && n > log.attempt)
                    selectStep(log.step, null);
            }
        }, 300);

        function onStatus(d) {
            if (Number(d.run) === id)
                refresh();
        }

        function openStream() {
            if (log.stream)
                log.stream.close();
            let url = '/api/events';
            if (log.step && !log.pinned) {
                /* no attempt: the stream moves on to a retry's attempt by itself */
                url += '?' + new URLSearchParams({run: id, step: log.step, offset: log.offset});
            }
            log.stream = listen(ctx, url, {run: onStatus, step: onStatus, audit: onStatus, log: onLog});
        }

        drawAll();
        let follow = !q.get('step');
        let first = q.get('step');
        if (!first || !stepByName(first)) {
            const pick = s => run.steps.find(s);
            const f = pick(st => st.status === 'running' || st.status === 'retrying') ||
                pick(st => st.status === 'failed' || st.status === 'lost') ||
                [...run.steps].reverse().find(st => (st.attempts || []).some(a => a.n > 0));
            first = f ? f.name : null;
        }
        if (first)
            await selectStep(first, null);
        else
            openStream();

        /* the page stays right when the events stream is down: poll while anything moves */
        every(ctx, () => {
            if (ACTIVE.has(run.status))
                refresh();
            if (log.step && !log.complete && !log.pinned && Date.now() - log.lastEvent > 3000)
                fetchLog(false);
        }, 2500);
    }

    function hash(s) {
        let x = 5381;
        for (let i = 0; i < s.length; i++)
            x = ((x * 33) ^ s.charCodeAt(i)) >>> 0;
        return x.toString(36);
    }

    /* Approve / Reject with a comment, for a run's waiting approval step. */
    function decisionForm(heading, runId, step, done, extra) {
        const by = h('input', {type: 'text', placeholder: 'your name (optional)', 'aria-label': 'by',
            class: 'decision-by'});
        const comment = h('textarea', {placeholder: 'comment', 'aria-label': 'comment',
            class: 'decision-comment'});
        const msg = h('p', {class: 'small decision-msg'});
        const buttons = [];
        const decide = async verb => {
            buttons.forEach(b => { b.disabled = true; });
            msg.className = 'small muted decision-msg';
            msg.textContent = 'sending…';
            const body = {step, comment: comment.value};
            if (by.value.trim())
                body.by = by.value.trim();
            try {
                const r = await post('/api/runs/' + Number(runId) + '/' + verb, body);
                msg.className = 'small okmsg decision-msg';
                msg.textContent = (r && r.decision ? r.decision : verb + 'd') + '; run #' + Number(runId) + ' goes on';
                if (done)
                    done(r);
            } catch (e) {
                msg.className = 'small error decision-msg';
                msg.textContent = postError(e);
                buttons.forEach(b => { b.disabled = false; });
            }
        };
        buttons.push(h('button', {class: 'primary approve', onclick: () => decide('approve')}, 'Approve'));
        buttons.push(h('button', {class: 'danger reject', onclick: () => decide('reject')}, 'Reject'));
        return h('div', {class: 'card decision', 'data-step': step},
            h('h3', null, heading), extra || null, by, comment, h('div', {class: 'row'}, buttons), msg);
    }

    /* ---- compare ---- */

    async function pageCompare(ctx) {
        title('Compare runs');
        const q = new URLSearchParams(location.search);
        const ids = (q.get('runs') || '').split(',').map(s => s.trim()).filter(s => /^\d+$/.test(s));
        const input = h('input', {type: 'text', id: 'compare-runs', value: ids.join(','),
            placeholder: '3,4,7', 'aria-label': 'run ids'});
        const form = h('form', {class: 'filters'}, h('label', null, 'Runs ', input),
            h('button', {type: 'submit', class: 'primary'}, 'Compare'));
        form.addEventListener('submit', ev => {
            ev.preventDefault();
            const v = input.value.split(/[\s,]+/).filter(s => /^\d+$/.test(s));
            navigate('/compare?runs=' + v.join(','), false);
        });
        main.append(h('h1', null, 'Compare runs'), form);
        if (ids.length < 2) {
            main.appendChild(note('Pick two or more runs: tick them in the list of runs, or type their ids.'));
            const recent = await api('/api/runs?limit=20');
            if (!ctx.alive)
                return;
            const picked = new Set();
            main.appendChild(table('runs', ['', 'Run', 'Pipeline', 'Status', 'Created'],
                (recent.runs || []).map(r => {
                    const box = h('input', {type: 'checkbox', 'aria-label': 'select run ' + r.id});
                    box.addEventListener('change', () => {
                        if (box.checked)
                            picked.add(r.id);
                        else
                            picked.delete(r.id);
                        input.value = [...picked].sort((a, b) => a - b).join(',');
                    });
                    return h('tr', null, h('td', null, box), h('td', null, runLink(r.id)),
                        h('td', null, r.pipeline), h('td', null, statusBadge(r.status)),
                        h('td', null, fmtTime(r.created_at)));
                })));
            return;
        }
        const data = await api('/api/compare?runs=' + ids.join(','));
        if (!ctx.alive)
            return;
        const runs = data.runs || [];
        const same = vals => vals.every(v => JSON.stringify(v) === JSON.stringify(vals[0]));
        const rows = [];
        const headRow = (label) => h('tr', {class: 'group'}, h('th', {colspan: runs.length + 1}, label));
        rows.push(h('tr', null, h('td', null, 'pipeline'), (data.pipelines || []).map((p, i) => {
            const diff = !same(data.pipelines);
            return h('td', {class: diff ? 'diff' : null, 'data-run': runs[i]},
                link('/pipelines/' + enc(p), p));
        })));
        const params = data.params || {}, metrics = data.metrics || {}, series = data.series || {};
        if (Object.keys(params).length)
            rows.push(headRow('Parameters'));
        for (const k of Object.keys(params)) {
            const vals = params[k];
            const diff = !same(vals);
            rows.push(h('tr', {'data-key': k}, h('td', null, k), vals.map(v =>
                h('td', {class: 'mono' + (diff ? ' diff' : '')}, fmtValue(v)))));
        }
        if (Object.keys(metrics).length)
            rows.push(headRow('Metrics (Δ against the first run)'));
        for (const k of Object.keys(metrics)) {
            const vals = metrics[k];
            const diff = !same(vals);
            rows.push(h('tr', {'data-key': k}, h('td', null, k), vals.map((v, i) => {
                const cell = h('td', {class: 'num' + (diff ? ' diff' : '')}, fmtNum(v));
                if (i > 0 && typeof v === 'number' && typeof vals[0] === 'number' && v !== vals[0]) {
                    const d = v - vals[0];
                    cell.appendChild(h('span', {class: 'small ' + (d > 0 ? 'delta-up' : 'delta-down')},
                        ' (' + (d > 0 ? '+' : '') + fmtNum(d) + ')'));
                }
                return cell;
            })));
        }
        if (Object.keys(series).length)
            rows.push(headRow('Series (last value)'));
        for (const k of Object.keys(series)) {
            const vals = series[k];
            const diff = !same(vals);
            rows.push(h('tr', {'data-key': k}, h('td', null, k), vals.map(v =>
                h('td', {class: 'num' + (diff ? ' diff' : '')}, Array.isArray(v) && v.length
                    ? fmtNum(v[v.length - 1]) + ' (' + v.length + ' points)' : '–'))));
        }
        main.appendChild(table('compare', ['', ...runs.map(r => ({t: runLink(r), cls: 'num'}))], rows));

        const names = runs.map(r => 'run #' + r);
        const metricNames = Object.keys(metrics);
        if (metricNames.length) {
            const sel = h('select', {id: 'compare-metric', 'aria-label': 'metric'},
                metricNames.map(m => h('option', {value: m}, m)));
            /* start with a metric that differs: that is what one compares runs for */
            sel.value = metricNames.find(m => !same(metrics[m])) || metricNames[0];
            const holder = h('div', {id: 'metric-chart'});
            const draw = () => {
                const m = sel.value;
                const box = chart(ctx, {
                    type: 'bar',
                    data: {labels: names, datasets: [{label: m, data: metrics[m].map(v => (typeof v === 'number' ? v : null)),
                        backgroundColor: runs.map((_, i) => PALETTE[i % PALETTE.length])}]},
                    options: {plugins: {legend: {display: false}, title: {display: true, text: m}}},
                });
                const old = holder.firstChild;
                if (old && old.chart)
                    old.chart.destroy();
                holder.replaceChildren(box);
            };
            sel.addEventListener('change', draw);
            main.appendChild(section('A metric across runs', h('div', {class: 'filters'},
                h('label', null, 'Metric ', sel)), holder));
            draw();
        }
        const seriesNames = Object.keys(series);
        if (seriesNames.length)
            main.appendChild(section('Series per run', h('div', {class: 'grid2'},
                seriesNames.map(k => lineChart(ctx, k, series[k], names)))));
    }

    /* ---- models ---- */

    async function pageModels(ctx) {
        title('Models');
        const models = await api('/api/models');
        if (!ctx.alive)
            return;
        main.appendChild(h('h1', null, 'Models'));
        const groups = new Map();
        for (const m of models || []) {
            if (!groups.has(m.name))
                groups.set(m.name, []);
            groups.get(m.name).push(m);
        }
        if (!groups.size) {
            main.appendChild(note('No models yet: an approve step with `model:` registers a version.'));
            return;
        }
        main.appendChild(table('models', ['Model', {t: 'Versions', cls: 'num'}, 'Newest', 'Status',
            'Champion', {t: 'Pending', cls: 'num'}, 'Created'], [...groups].map(([name, vs]) => {
            const newest = vs[0];
            const champ = vs.find(v => v.status === 'deployed');
            const pending = vs.filter(v => v.status === 'pending').length;
            return h('tr', {'data-model': name},
                h('td', null, link('/models/' + enc(name), name)),
                h('td', {class: 'num'}, String(vs.length)),
                h('td', null, 'v' + newest.version),
                h('td', null, statusBadge(newest.status)),
                h('td', null, champ ? 'v' + champ.version : '–'),
                h('td', {class: 'num'}, pending ? h('b', null, String(pending)) : '0'),
                h('td', null, fmtTime(newest.created_at)));
        })));
    }

    function metricsList(m) {
        const keys = Object.keys(m || {});
        if (!keys.length)
            return '–';
        return keys.map(k => k + ' ' + fmtValue(m[k])).join(', ');
    }

    /* Metrics of a challenger beside the champion's, with the difference. */
    function challengerTable(ch, champ) {
        const keys = [...new Set([...Object.keys(ch.metrics || {}),
            ...Object.keys((champ && champ.metrics) || {})])];
        if (!keys.length)
            return note('No metrics recorded for either version.');
        return table('challenger', ['Metric', {t: champ ? 'champion v' + champ.version : 'champion', cls: 'num'},
            {t: 'challenger v' + ch.version, cls: 'num'}, {t: 'Δ', cls: 'num'}], keys.map(k => {
            const a = champ && champ.metrics ? champ.metrics[k] : undefined;
            const b = ch.metrics ? ch.metrics[k] : undefined;
            const d = typeof a === 'number' && typeof b === 'number' ? b - a : null;
            return h('tr', null, h('td', null, k), h('td', {class: 'num'}, fmtValue(a)),
                h('td', {class: 'num' + (d ? ' diff' : '')}, fmtValue(b)),
                h('td', {class: 'num ' + (d > 0 ? 'delta-up' : d < 0 ? 'delta-down' : '')},
                    d === null ? '–' : (d > 0 ? '+' : '') + fmtNum(d)));
        }));
    }

    async function pageModel(ctx, name) {
        title('Model ' + name);
        let data = await api('/api/models/' + enc(name));
        if (!ctx.alive)
            return;
        const head = h('div');
        const challengers = h('div', {id: 'challengers'});
        const decided = h('div', {id: 'decided'}); /* what was decided here: outlives the forms */
        const versions = h('div', {id: 'versions'});
        const deployments = h('div', {id: 'deployments'});
        const rollback = h('div', {class: 'row'});
        main.append(head, decided, challengers, section('Versions', versions),
            section('Deployments', deployments, rollback));
        const cards = new Map(); /* pending version -> its decision card, kept across refreshes */

        function draw() {
            const vs = data.versions || [];
            const champ = vs.find(v => v.version === data.champion) || null;
            head.replaceChildren(h('h1', null, 'Model ' + data.name),
                h('div', {class: 'meta'}, h('span', null, 'champion ',
                    h('b', {id: 'champion'}, champ ? 'v' + champ.version : 'none deployed')),
                h('span', null, String(vs.length) + ' versions'),
                h('span', null, link('/lineage/' + enc(data.name),
                    champ ? 'lineage of the champion' : 'lineage of the newest'))));

            const pending = vs.filter(v => v.status === 'pending');
            for (const [v, card] of cards) {
                if (!pending.some(p => p.version === v)) {
                    card.remove();
                    cards.delete(v);
                }
            }
            for (const p of pending) {
                const body = challengerTable(p, champ);
                if (cards.has(p.version)) {
                    cards.get(p.version).querySelector('.cmp').replaceChildren(body);
                    continue;
                }
                const extra = h('div', null, h('p', {class: 'meta'}, 'from ',
                    p.run ? runLink(p.run) : '–', ' · step ', p.step || '–', ' · ',
                    link('/lineage/' + enc(p.sha256), short(p.sha256))), h('div', {class: 'cmp'}, body));
                const card = p.run && p.step
                    ? decisionForm('Challenger v' + p.version + ' against the champion', p.run, p.step,
                        r => {
                            decided.appendChild(h('p', {class: 'okmsg decision-done'}, 'v' + p.version + ' ' +
                                (r && r.decision ? r.decision : 'decided') + '; run ', runLink(p.run),
                                ' goes on'));
                            refresh();
                        }, extra)
                    : h('div', {class: 'card'}, h('h3', null, 'Challenger v' + p.version), extra);
                card.setAttribute('data-version', p.version);
                cards.set(p.version, card);
                challengers.appendChild(card);
            }

            versions.replaceChildren(table('versions', ['Version', 'Status', 'Run', 'Created',
                'SHA-256', {t: 'Size', cls: 'num'}, 'Metrics', 'Decisions'], vs.map(v =>
                h('tr', {'data-version': v.version},
                    h('td', null, 'v' + v.version + (v.version === data.champion ? ' ★' : '')),
                    h('td', null, statusBadge(v.status)),
                    h('td', null, v.run ? runLink(v.run) : '–'),
                    h('td', null, fmtTime(v.created_at)),
                    h('td', {class: 'mono', title: v.sha256}, link('/lineage/' + enc(data.name + ':' + v.version),
                        short(v.sha256))),
                    h('td', {class: 'num'}, fmtBytes(v.size)),
                    h('td', {class: 'wrap small'}, metricsList(v.metrics)),
                    h('td', {class: 'wrap small'}, (v.approvals || []).map(a => h('div', null,
                        statusBadge(a.decision), ' by ', a.by || '–', ' ', fmtTime(a.at),
                        a.comment ? [': ', h('q', null, a.comment)] : null)))))));

            const deps = vs.flatMap(v => v.deployments || []).sort((a, b) =>
                String(b.at).localeCompare(String(a.at)));
            deployments.replaceChildren(deps.length ? table('deployments', ['At', 'Version', 'Status',
                'Slot', 'Target', 'Run'], deps.map(d => h('tr', null,
                h('td', null, fmtTime(d.at)), h('td', null, 'v' + d.version),
                h('td', null, statusBadge(d.status)), h('td', null, d.slot || '–'),
                h('td', {class: 'mono'}, d.target || ''), h('td', null, d.run ? runLink(d.run) : '–'))))
                : note('Never deployed.'));
            rollback.replaceChildren();
            if (deps.length > 1) {
                const msg = h('span', {class: 'small'});
                const btn = h('button', {class: 'danger', id: 'rollback'}, 'Roll back…');
                let armed = false;
                btn.addEventListener('click', async () => {
                    if (!armed) {
                        armed = true;
                        btn.textContent = 'Confirm: switch back to the previous version';
                        return;
                    }
                    btn.disabled = true;
                    try {
                        const r = await post('/api/models/' + enc(data.name) + '/rollback', {});
                        msg.className = 'small okmsg';
                        msg.textContent = 'now live: v' + Number(r.version);
                        refresh();
                    } catch (e) {
                        msg.className = 'small error';
                        msg.textContent = postError(e);
                        btn.disabled = false;
                    }
                });
                rollback.append(btn, msg);
            }
        }

        const refresh = coalesce(ctx, async () => {
            const d = await api('/api/models/' + enc(name));
            if (ctx.alive) {
                data = d;
                draw();
            }
        }, 500);
        draw();
        listen(ctx, '/api/events', {run: refresh, audit: refresh});
    }

    /* ---- catalog ---- */

    async function pageCatalog(ctx) {
        title('Catalog');
        const tables = await api('/api/catalog');
        if (!ctx.alive)
            return;
        main.appendChild(h('h1', null, 'Catalog'));
        if (!tables || !tables.length) {
            main.appendChild(note('No tables yet: a crawl step with `table:` records one.'));
            return;
        }
        main.appendChild(table('catalog', ['Table', {t: 'Version', cls: 'num'}, {t: 'Rows', cls: 'num'},
            {t: 'Columns', cls: 'num'}, 'Run', 'Created'], tables.map(t => h('tr', {'data-table': t.name},
            h('td', null, link('/catalog/' + enc(t.name), t.name)),
            h('td', {class: 'num'}, String(t.version)),
            h('td', {class: 'num'}, fmtNum(t.rows)),
            h('td', {class: 'num'}, String((t.columns || []).length)),
            h('td', null, t.run ? runLink(t.run) : '–'),
            h('td', null, fmtTime(t.created_at))))));
    }

    /* What changed between two column lists, one line each. */
    function schemaDiff(older, newer) {
        const a = new Map((older || []).map(c => [c.name, c]));
        const b = new Map((newer || []).map(c => [c.name, c]));
        const out = [];
        for (const [n, c] of b) {
            if (!a.has(n))
                out.push(['added', n, c.type]);
            else if (a.get(n).type !== c.type)
                out.push(['type', n, a.get(n).type + ' → ' + c.type]);
            else if ((a.get(n).nulls || 0) === 0 && (c.nulls || 0) > 0)
                out.push(['nulls', n, 'now has ' + c.nulls + ' nulls']);
        }
        for (const [n, c] of a)
            if (!b.has(n))
                out.push(['removed', n, c.type]);
        return out;
    }

    async function pageTable(ctx, name) {
        title('Table ' + name);
        const data = await api('/api/catalog/' + enc(name));
        if (!ctx.alive)
            return;
        const vs = data.versions || [];
        const q = new URLSearchParams(location.search);
        let chosen = vs.find(v => String(v.version) === q.get('v')) || vs[0];
        main.appendChild(h('h1', null, 'Table ' + data.name));
        if (!vs.length) {
            main.appendChild(note('No versions.'));
            return;
        }
        const detail = h('div', {id: 'version-detail'});
        const versionsBox = h('div');
        const drawVersions = () => versionsBox.replaceChildren(table('table-versions', [
            {t: 'Version', cls: 'num'}, 'Run', {t: 'Rows', cls: 'num'}, {t: 'Columns', cls: 'num'},
            'Created', 'Changes from the version before'], vs.map(v => {
            const tr = h('tr', {class: 'clickable' + (v === chosen ? ' selected' : ''), 'data-version': v.version},
                h('td', {class: 'num'}, h('a', {href: '/catalog/' + enc(data.name) + '?v=' + Number(v.version)},
                    'v' + v.version)),
                h('td', null, v.run ? runLink(v.run) : '–'),
                h('td', {class: 'num'}, fmtNum(v.rows)),
                h('td', {class: 'num'}, String((v.columns || []).length)),
                h('td', null, fmtTime(v.created_at)),
                h('td', {class: 'wrap small'}, v.changes && v.changes.length
                    ? v.changes.map(c => h('div', null, c)) : (v.changes ? 'no change' : '–')));
            tr.addEventListener('click', ev => {
                if (ev.target.closest('a') && !ev.target.closest('a').getAttribute('href').startsWith('/catalog/'))
                    return;
                ev.preventDefault();
                chosen = v;
                history.replaceState(null, '', '/catalog/' + enc(data.name) + '?v=' + Number(v.version));
                drawVersions();
                drawDetail();
            });
            return tr;
        })));

        function drawDetail() {
            const schema = chosen.schema || {};
            const cols = Array.isArray(schema.columns) ? schema.columns : (chosen.columns || []);
            const rules = Array.isArray(schema.rules) ? schema.rules : [];
            detail.replaceChildren(
                h('h2', null, 'Columns of v' + chosen.version),
                table('columns', ['Column', 'Type', {t: 'Nulls', cls: 'num'}, {t: 'Min', cls: 'num'},
                    {t: 'Max', cls: 'num'},
                    {t: 'Distinct', cls: 'num'}], cols.map(c => h('tr', null,
                    h('td', null, c.name), h('td', null, c.type || '–'),
                    h('td', {class: 'num'}, fmtNum(c.nulls)), h('td', {class: 'num'}, fmtValue(c.min)),
                    h('td', {class: 'num'}, fmtValue(c.max)), h('td', {class: 'num'}, fmtNum(c.distinct))))),
                h('h2', null, 'Quality rules of v' + chosen.version),
                rules.length ? table('rules', ['Rule', {t: 'Value', cls: 'num'}, 'Result'], rules.map(r =>
                    h('tr', null, h('td', {class: 'mono'}, r.rule), h('td', {class: 'num'}, fmtValue(r.value)),
                        h('td', null, statusBadge(r.pass ? 'pass' : 'fail'))))) : note('No rules.'));
        }

        /* any two versions, side by side */
        const fromSel = h('select', {id: 'diff-from', 'aria-label': 'from version'},
            vs.map(v => h('option', {value: v.version}, 'v' + v.version)));
        const toSel = h('select', {id: 'diff-to', 'aria-label': 'to version'},
            vs.map(v => h('option', {value: v.version}, 'v' + v.version)));
        toSel.value = String(vs[0].version);
        fromSel.value = String((vs[1] || vs[0]).version);
        const diffBox = h('div', {id: 'schema-diff'});
        const drawDiff = () => {
            const a = vs.find(v => String(v.version) === fromSel.value);
            const b = vs.find(v => String(v.version) === toSel.value);
            const d = schemaDiff(a.columns, b.columns);
            diffBox.replaceChildren(d.length ? table('diff', ['Change', 'Column', 'Detail'],
                d.map(([what, col, det]) => h('tr', null, h('td', null, h('span', {class: 'status st-' +
                    (what === 'removed' ? 'fail' : what === 'added' ? 'pass' : 'waiting')}, what)),
                h('td', null, col), h('td', null, det || '')))) :
                note('Same columns and types.'));
        };
        fromSel.addEventListener('change', drawDiff);
        toSel.addEventListener('change', drawDiff);
        main.append(section('Versions', versionsBox), detail,
            section('Schema diff', h('div', {class: 'filters'}, h('label', null, 'from ', fromSel),
                h('label', null, 'to ', toSel)), diffBox));
        drawVersions();
        drawDetail();
        drawDiff();
    }

    /* ---- lineage ---- */

    async function pageLineage(ctx, ref) {
        title('Lineage ' + short(ref));
        const data = await api('/api/lineage/' + enc(ref));
        if (!ctx.alive)
            return;
        const art = data.artifact || {};
        const source = art.kind === 'source';
        const m = data.model;
        add(main, [h('h1', null, 'Lineage of ', m ? ['model ', link('/models/' + enc(m.name), m.name),
            ' v' + m.version, ' '] : null, h('code', null, short(art.sha256))),
            m ? h('div', {class: 'meta', id: 'lineage-model'},
                h('span', null, 'version ', h('b', null, 'v' + m.version), ' ', statusBadge(m.status)), h('span', null, 'registered by ', runLink(m.run), ' ', m.step || ''),
                m.picked !== 'version' ? h('span', {class: 'muted'}, m.picked === 'deployed'
                    ? 'the deployed version (name:VERSION shows another)'
                    : 'the newest version: none is deployed') : null) : null,
            h('div', {class: 'meta'}, h('span', {class: 'mono'}, 'sha256 ', h('b', null, art.sha256 || '')),
                source ? null : h('span', null, 'size ', h('b', null, fmtBytes(art.size))),
                h('span', null, 'kind ', h('b', null, art.kind || '–')),
                art.uri ? h('span', null, source ? 'source ' : 'stored at ', h('b', null, art.uri)) : null,
                art.kind === 'file' && art.sha256 ? h('a', {href: '/api/artifacts/' + enc(art.sha256),
                    download: short(art.sha256)}, 'download') : null),
            source ? note('A source is what an ingest read: the bytes it got are its output (downstream).')
                : null,
            data.truncated ? note('The graph was cut at its size limit; open an artifact to see further.') : null]);

        /* nodes and edges from both trees, for the graph drawn here */
        const nodes = new Map(), edges = [];
        const addArt = a => {
            const k = 'a:' + a.sha256;
            if (!nodes.has(k))
                nodes.set(k, {id: k, label: (a.kind === 'source' && a.uri ? a.uri.split('/').pop() : short(a.sha256)),
                    fill: a.sha256 === art.sha256 ? '#f6cf8a' : '#ffffff', href: '/lineage/' + enc(a.sha256),
                    title: (a.uri || '') + ' ' + a.sha256});
            return k;
        };
        const addAtt = t => {
            const k = 't:' + (t.attempt_id || t.run + '/' + t.step);
            if (!nodes.has(k))
                nodes.set(k, {id: k, label: '#' + t.run + ' ' + t.step, shape: 'ellipse',
                    fill: STATUS_FILL[t.status] || '#eef1f5', href: '/runs/' + Number(t.run),
                    title: 'run ' + t.run + ' step ' + t.step + ' attempt ' + t.attempt});
            return k;
        };
        const root = addArt(art);
        const walkUp = (list, child) => {
            for (const t of list || []) {
                const tk = addAtt(t);
                edges.push([tk, child]);
                for (const i of t.inputs || []) {
                    if (i.on_path)
                        continue; /* the same bytes as an artifact nearer the root: no cycle */
                    const ak = addArt(i.artifact);
                    edges.push([ak, tk]);
                    walkUp(i.producers, ak);
                }
            }
        };
        const walkDown = (list, parent) => {
            for (const t of list || []) {
                const tk = addAtt(t);
                edges.push([parent, tk]);
                for (const o of t.outputs || []) {
                    if (o.on_path)
                        continue;
                    const ak = addArt(o.artifact);
                    edges.push([tk, ak]);
                    walkDown(o.consumers, ak);
                }
            }
        };
        walkUp(data.upstream, root);
        walkDown(data.downstream, root);
        for (const d of data.deployments || []) {
            const k = 'd:' + d.target + ':' + d.at;
            nodes.set(k, {id: k, label: 'deploy ' + (d.name || '') + ' v' + d.version,
                fill: STATUS_FILL[d.status === 'live' ? 'succeeded' : 'skipped'] || '#fff',
                title: d.target + ' (' + d.status + ')'});
            edges.push([root, k]);
        }
        const seen = new Set();
        const uniq = edges.filter(e => {
            const k = e[0] + '>' + e[1];
            if (seen.has(k))
                return false;
            seen.add(k);
            return true;
        });
        main.appendChild(section('Graph', graphImage('/api/lineage/' + enc(ref) + '/graph.svg',
            'lineage graph', () => drawGraph([...nodes.values()], uniq))));

        /* [1, 2, 3, 5] as "1–3, 5" */
        const runRanges = runs => {
            const parts = [];
            for (let i = 0; i < runs.length;) {
                let j = i;
                while (j + 1 < runs.length && runs[j + 1] === runs[j] + 1)
                    j++;
                parts.push(j === i ? String(runs[i]) : runs[i] + (j === i + 1 ? ', ' : '–') + runs[j]);
                i = j + 1;
            }
            return parts.join(', ');
        };
        const otherRuns = (t, up) => {
            const rs = t.other_runs || [];
            if (!rs.length)
                return null;
            const when = rs[rs.length - 1] < t.run ? 'earlier' : rs[0] > t.run ? 'later' : 'other';
            return h('div', {class: 'muted small other-runs'}, '… and ' + rs.length + ' ' + when +
                (rs.length === 1 ? ' run' : ' runs') + ' (' + runRanges(rs) + ') of ' + t.step +
                (up ? ' made it too' : ' read it too'));
        };
        const attemptItem = (t, up, kids) => h('li', null, runLink(t.run), ' ', h('b', null, t.step),
            t.attempt ? ' attempt ' + t.attempt : '', ' ', statusBadge(t.status),
            t.reused ? [' (reused run ', runLink(t.reused.run), ' ', t.reused.step, ')'] : null,
            t.seen ? h('span', {class: 'muted'}, ' (shown above)') : null, kids, otherRuns(t, up));
        const artItem = (io, kids) => h('li', null, io.name ? h('code', null, io.name) : null, ' ',
            link('/lineage/' + enc(io.artifact.sha256), short(io.artifact.sha256)),
            io.artifact.kind === 'source' ? [' ', h('span', {class: 'path'}, io.artifact.uri || '')]
                : [' ', h('span', {class: 'muted small'}, fmtBytes(io.artifact.size))],
            io.on_path ? h('span', {class: 'muted'}, ' (the same content as above: not followed)') : null,
            io.more ? h('span', {class: 'muted'}, ' (+' + io.more + ' more)') : null, kids);
        const up = list => h('ul', null, (list || []).map(t => attemptItem(t, true,
            t.inputs && t.inputs.length ? h('ul', null, t.inputs.map(i => artItem(i,
                i.producers && i.producers.length ? up(i.producers) : null))) : null)));
        const down = list => h('ul', null, (list || []).map(t => attemptItem(t, false,
            t.outputs && t.outputs.length ? h('ul', null, t.outputs.map(o => artItem(o,
                o.consumers && o.consumers.length ? down(o.consumers) : null))) : null)));
        main.append(h('div', {class: 'grid2'},
            section('Upstream (made from)', data.upstream && data.upstream.length ? up(data.upstream)
                : note(art.kind === 'source' ? 'A source: nothing upstream.' : 'Nothing upstream.')),
            section('Downstream (used by)', data.downstream && data.downstream.length ? down(data.downstream)
                : note('Nothing downstream.'))));
        if (data.deployments && data.deployments.length)
            main.appendChild(section('Deployments', table('deployments', ['At', 'Model', 'Version', 'Status',
                'Slot', 'Target', 'Run'], data.deployments.map(d => h('tr', null, h('td', null, fmtTime(d.at)),
                h('td', null, d.name ? link('/models/' + enc(d.name), d.name) : '–'),
                h('td', null, 'v' + d.version), h('td', null, statusBadge(d.status)),
                h('td', null, d.slot || '–'), h('td', {class: 'mono'}, d.target || ''),
                h('td', null, d.run ? runLink(d.run) : '–'))))));
    }

    /* ---- pipelines ---- */

    async function pagePipelines(ctx) {
        title('Pipelines');
        const ps = await api('/api/pipelines');
        if (!ctx.alive)
            return;
        main.appendChild(h('h1', null, 'Pipelines'));
        if (!ps || !ps.length) {
            main.appendChild(note('No pipelines in the folder given to `sluice serve --dags`.'));
            return;
        }
        main.appendChild(table('pipelines', ['Pipeline', 'Description', 'Schedule', 'Next', {t: 'Steps', cls: 'num'},
            'Last run'], ps.map(p => h('tr', {'data-pipeline': p.name},
            h('td', null, p.error ? h('span', null, p.name) : link('/pipelines/' + enc(p.name), p.name)),
            h('td', {class: 'wrap small' + (p.error ? ' error' : '')}, p.error || p.description || ''),
            h('td', {class: 'mono'}, p.schedule || '–'),
            h('td', null, fmtTime(p.next_fire)),
            h('td', {class: 'num'}, String((p.steps || []).length)),
            h('td', null, p.last_run ? [runLink(p.last_run.id), ' ', statusBadge(p.last_run.status)] : '–')))));
    }

    async function pagePipeline(ctx, name) {
        title('Pipeline ' + name);
        const p = await api('/api/pipelines/' + enc(name));
        if (!ctx.alive)
            return;
        add(main, [h('h1', null, 'Pipeline ' + p.name),
            p.description ? h('p', {id: 'description'}, p.description) : null,
            h('div', {class: 'meta'}, h('span', null, 'file ', h('code', null, p.file || '–')),
                h('span', null, 'schedule ', h('b', null, p.schedule || 'none')),
                p.next_fire ? h('span', null, 'next ', h('b', null, fmtTime(p.next_fire))) : null),
            p.error ? h('p', {class: 'error'}, p.error) : null]);

        /* the Trigger form: one field per parameter, prefilled with its default */
        const params = p.params || {};
        const fields = Object.keys(params).map(k => {
            const def = params[k];
            const input = typeof def === 'boolean'
                ? h('input', {type: 'checkbox', name: k, id: 'param-' + k})
                : h('input', {type: 'text', name: k, id: 'param-' + k, value: def === null ? '' : String(def)});
            if (typeof def === 'boolean')
                input.checked = def;
            return [k, def, input];
        });
        const msg = h('p', {class: 'small', id: 'trigger-msg'});
        const form = h('form', {id: 'trigger-form', class: 'card'},
            fields.length ? h('div', {class: 'form'}, fields.map(([k, , input]) =>
                [h('label', {for: 'param-' + k}, k), input])) : note('This pipeline has no parameters.'),
            h('div', {class: 'row'}, h('button', {type: 'submit', class: 'primary', id: 'trigger'}, 'Trigger run')),
            msg);
        form.addEventListener('submit', async ev => {
            ev.preventDefault();
            const body = {};
            for (const [k, def, input] of fields) {
                if (typeof def === 'boolean') {
                    body[k] = input.checked;
                } else {
                    const v = input.value;
                    /* keep a number a number, so that a template compares it as one */
                    body[k] = typeof def === 'number' && v.trim() !== '' && isFinite(Number(v)) ? Number(v) : v;
                }
            }
            const btn = form.querySelector('button');
            btn.disabled = true;
            msg.className = 'small muted';
            msg.textContent = 'starting…';
            try {
                const r = await post('/api/pipelines/' + enc(p.name) + '/runs', {params: body});
                navigate('/runs/' + Number(r.id), false);
            } catch (e) {
                msg.className = 'small error';
                msg.textContent = postError(e);
                btn.disabled = false;
            }
        });
        const recent = h('div', {id: 'recent-runs'});
        main.append(section('Trigger', form),
            section('Graph', graphImage('/api/pipelines/' + enc(p.name) + '/graph.svg',
                'step graph of ' + p.name, null)),
            section('Recent runs', recent, h('p', null,
                link('/?pipeline=' + enc(p.name), 'all runs of ' + p.name))),
            section('YAML', h('pre', {class: 'yaml', id: 'yaml'}, p.yaml || '')));
        const load = async () => {
            const r = await api('/api/runs?limit=10&pipeline=' + enc(p.name));
            if (!ctx.alive)
                return;
            const runs = r.runs || [];
            recent.replaceChildren(runs.length ? table('runs', ['Run', 'Status', 'Trigger', 'Created',
                {t: 'Duration', cls: 'num'}], runs.map(x => h('tr', {'data-run': x.id},
                h('td', null, runLink(x.id)), h('td', null, statusBadge(x.status)),
                h('td', null, x.trigger || ''), h('td', null, fmtTime(x.created_at)),
                h('td', {class: 'num'}, fmtDur(span(x.started_at, x.ended_at))))))
                : note('No runs yet.'));
        };
        await load();
        const refresh = coalesce(ctx, load, 700);
        listen(ctx, '/api/events', {run: refresh, audit: refresh});
    }

    /* ---- start ---- */

    function start() {
        render(false);
        api('/api/session').then(s => {
            session = s || {authed: false};
        }).catch(() => {
            session = {authed: false};
        }).then(() => {
            if (session.authed)
                return;
            const banner = document.getElementById('banner');
            banner.textContent = 'Read-only: to trigger, approve or cancel runs, open the address that `sluice serve` printed (it carries the access token).';
            banner.hidden = false;
        });
    }

    start();
})();
