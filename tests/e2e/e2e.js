// Browser tests of sluice's page: a real `sluice serve` in a temporary workspace, Debian's
// Chromium (headless) driven by playwright-core. Prints TAP ("ok N - …"); run by run.sh.
//   SLUICE_BIN        the binary under test
//   CHROMIUM          the browser (default /usr/bin/chromium)
//   SLUICE_E2E_KEEP=1 keep the workspace and the screenshots (their folder is printed)
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const {spawn, spawnSync} = require('child_process');
const {chromium} = require('playwright-core');

const SLUICE = process.env.SLUICE_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const KEEP = process.env.SLUICE_E2E_KEEP === '1';
const XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';

let count = 0, failed = 0;
function tap(ok, desc, diag) {
    count++;
    if (!ok)
        failed++;
    console.log((ok ? 'ok ' : 'not ok ') + count + ' - ' + desc);
    if (diag)
        for (const line of String(diag).split('\n').slice(0, 30))
            console.log('# ' + line);
}

function diag(msg) {
    console.log('# ' + msg);
}

// ---- the workspace ----

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-'));
const shots = path.join(work, 'screenshots');
fs.mkdirSync(shots);
fs.mkdirSync(path.join(work, 'dags'));

fs.writeFileSync(path.join(work, 'dags', 'e2e.yaml'), `pipeline: e2e
description: A small pipeline for the browser tests
params:
  depth: 3
  label: base
steps:
  prepare:
    cache: true
    params: []
    run: |
      echo "preparing data"
      seq 1 50 > "$SLUICE_OUT/data.txt"
      echo '{"rows": 50}' > "$SLUICE_METRICS"
    outputs: [data.txt]
  train:
    kind: train
    inputs: { data: prepare/data.txt }
    run: |
      echo "training with depth \${{ params.depth }}"
      echo "model depth=\${{ params.depth }} label=\${{ params.label }}" > "$SLUICE_OUT/model.bin"
      d=\${{ params.depth }}
      printf '{"acc": 0.%s, "loss": [0.9, 0.6, 0.%s, 0.2]}\\n' "$((70 + d))" "$((50 - d))" > "$SLUICE_METRICS"
    outputs: [model.bin]
  approve:
    kind: approve
    needs: [train]
    model: train/model.bin
    model_name: e2e-model
  finish:
    needs: [approve]
    run: sleep 1; echo "finished"
`);

// a step that runs for a while, printing as it goes: its log must follow live
fs.writeFileSync(path.join(work, 'dags', 'slow.yaml'), `pipeline: slow
steps:
  tick:
    run: |
      for i in 1 2 3 4 5; do echo "tick $i"; sleep 0.6; done
`);

fs.writeFileSync(path.join(work, 'dags', 'xss.yaml'), `pipeline: xss-check
description: '${XSS}'
steps:
  shout:
    run: |
      echo 'before'
      echo '${XSS}'
      echo 'after'
`);

// a catalog table whose second version gains a column
fs.writeFileSync(path.join(work, 'dags', 'cat.yaml'), `pipeline: cat
params:
  extra: 0
steps:
  prepare:
    run: |
      if [ "$SLUICE_PARAM_EXTRA" = 1 ]; then h=",weight"; x=",1.5"; else h=; x=; fi
      { echo "id,score,label$h"; for i in $(seq 1 20); do echo "$i,0.$i,l$((i % 3))$x"; done; } > "$SLUICE_OUT/data.csv"
    outputs: [data.csv]
  crawl:
    kind: crawl
    input: prepare/data.csv
    table: e2e_table
    expect:
      - rows >= 10
      - nulls(label) == 0
`);

function sluice(args, okCodes) {
    const r = spawnSync(SLUICE, args, {cwd: work, encoding: 'utf8', timeout: 60000});
    if (!(okCodes || [0]).includes(r.status))
        throw new Error('sluice ' + args.join(' ') + ' exited ' + r.status + ':\n' + r.stdout + r.stderr);
    return r;
}

// Run 2's train and finish become Slurm jobs, as the Slurm executor records them (no command
// writes a job's fields): train ended on n07 after 2.5 s in the queue; finish's job still waits
// for its priority (a state the rest of that run does not match: the page draws what it gets).
function slurmJobs() {
    const step = name => `step_id = (SELECT id FROM steps WHERE run_id = 2 AND name = '${name}')`;
    const now = Date.now();
    const r = spawnSync('sqlite3', [path.join(work, '.sluice', 'sluice.db'), `
        UPDATE attempts SET executor = 'slurm', job_id = '81230', node = 'n07',
            queued_at = started_at - 2500, job_state = 'COMPLETED' WHERE ${step('train')};
        UPDATE attempts SET executor = 'slurm', job_id = '81231', queued_at = ${now - 8000},
            started_at = ${now - 8030}, ended_at = 0, status = 'running', job_state = 'PENDING',
            job_reason = 'Priority' WHERE ${step('finish')};`], {encoding: 'utf8'});
    if (r.status !== 0)
        throw new Error('sqlite3 exited ' + r.status + ': ' + r.stderr + (r.error || ''));
}

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const port = s.address().port;
            s.close(() => resolve(port));
        });
    });
}

// Start `sluice serve` and resolve with the URL of its first stdout line.
function serve(port) {
    const child = spawn(SLUICE, ['serve', '--host', '127.0.0.1', '--port', String(port), '--dags', 'dags'],
        {cwd: work, stdio: ['ignore', 'pipe', 'pipe']});
    let err = '';
    child.stderr.on('data', d => {
        err += d;
        if (err.length > 20000)
            err = err.slice(-10000);
    });
    const url = new Promise((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error('serve printed no URL within 15 s:\n' + err)), 15000);
        child.stdout.on('data', d => {
            out += d;
            const nl = out.indexOf('\n');
            if (nl >= 0) {
                clearTimeout(timer);
                const m = /https?:\/\/\S+/.exec(out.slice(0, nl));
                if (m)
                    resolve(m[0]);
                else
                    reject(new Error('no URL in serve\'s first line: ' + out.slice(0, nl)));
            }
        });
        child.on('exit', code => {
            clearTimeout(timer);
            reject(new Error('serve exited ' + code + ':\n' + err));
        });
    });
    return {child, url, stderr: () => err};
}

// ---- the tests ----

async function main() {
    const t00 = Date.now();
    // runs 1 and 2 end; run 3 writes the hostile log; run 4 waits for an approval
    sluice(['run', 'dags/e2e.yaml', '-p', 'depth=2', '--auto-approve']);
    sluice(['run', 'dags/e2e.yaml', '-p', 'depth=5', '-p', 'label=wide', '--auto-approve']);
    sluice(['run', 'dags/xss.yaml']);
    sluice(['run', 'dags/e2e.yaml', '-p', 'depth=4', '--no-wait'], [3]);
    sluice(['run', 'dags/cat.yaml']);
    sluice(['run', 'dags/cat.yaml', '-p', 'extra=1']);
    slurmJobs();
    diag('workspace prepared in ' + (Date.now() - t00) + ' ms: ' + work);

    const port = await freePort();
    const srv = serve(port);
    let browser = null;
    const cspErrors = [], pageErrors = [], dialogs = [];
    try {
        const tokenUrl = await srv.url;
        const base = new URL(tokenUrl).origin;
        browser = await chromium.launchPersistentContext(path.join(work, 'chromium-profile'), {
            executablePath: CHROMIUM,
            headless: true,
            args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                '--disable-component-update', '--no-first-run'],
            viewport: {width: 1280, height: 900},
        });
        const page = browser.pages()[0] || await browser.newPage();
        page.setDefaultTimeout(10000);
        page.on('console', m => {
            if (m.type() === 'error' && /Content Security Policy/i.test(m.text()))
                cspErrors.push(page.url() + ': ' + m.text());
        });
        page.on('pageerror', e => pageErrors.push(page.url() + ': ' + e.message));
        page.on('dialog', d => {
            dialogs.push(d.message());
            d.dismiss().catch(() => {});
        });
        const shot = async name => {
            await page.screenshot({path: path.join(shots, name + '.png'), fullPage: true});
        };
        const ready = () => page.waitForSelector('main[data-state=ready]');

        await step('the token URL sets the session and lands on the runs page, which lists the runs', async () => {
            await page.goto(tokenUrl);
            await page.waitForSelector('table.runs tbody tr[data-run="4"]');
            const ids = await page.$$eval('table.runs tbody tr', trs => trs.map(t => t.getAttribute('data-run')));
            must(ids.join(',') === '6,5,4,3,2,1', 'newest first: ' + ids.join(','));
            const st = await page.textContent('tr[data-run="4"] .status');
            must(st === 'waiting', 'run 4 status ' + st);
            must(new URL(page.url()).search === '', 'the token left the address: ' + page.url());
            const banner = await page.isVisible('#banner');
            must(!banner, 'the read-only banner shows although the session is set');
            await shot('runs');
        });

        await step('a run page shows its DAG image, the timeline, steps with cpu and memory, and a step log', async () => {
            await page.goto(base + '/runs/1');
            await ready();
            await page.waitForFunction(() => {
                const img = document.querySelector('#dag img');
                return (img && img.complete && img.naturalWidth > 0) ||
                    document.querySelector('#dag svg.drawn-graph');
            });
            const rows = await page.$$eval('table.steps tbody tr', trs => trs.map(t => t.getAttribute('data-step')));
            must(rows.join(',') === 'prepare,train,approve,finish', 'steps: ' + rows.join(','));
            must(await page.$$eval('.gantt-bar', b => b.length) >= 3, 'timeline bars');
            await page.click('table.steps tr[data-step="prepare"]');
            await page.waitForFunction(() => /preparing data/.test(document.querySelector('#log').textContent));
            must(/\?step=prepare$/.test(page.url()), 'the address names the step: ' + page.url());
            const params = await page.textContent('#params');
            must(/depth/.test(params) && /2/.test(params), 'params: ' + params);
            const outs = await page.$$eval('#outputs a[href^="/lineage/"]', a => a.length);
            must(outs >= 2, 'outputs link their lineage');
            must(await page.$('#metrics canvas') !== null, 'the loss series has a chart');
            const miss = await page.textContent('tr[data-step="prepare"] td:nth-child(9)');
            must(/^miss/.test(miss), 'run 1 prepare cache: ' + miss);
            await shot('run');
            await page.goto(base + '/runs/2');
            await ready();
            const hit = await page.textContent('tr[data-step="prepare"] td:nth-child(9)');
            must(/cached from #1/.test(hit), 'run 2 prepare cache: ' + hit);
            must(await page.$('tr[data-step="prepare"] td:nth-child(9) a[href="/runs/1"]') !== null, 'links run 1');
        });

        await step('a Slurm attempt shows its job id, node, state and queue wait, and the Gantt its queue', async () => {
            await page.goto(base + '/runs/2');
            await ready();
            const train = await page.textContent('tr[data-step="train"] .job');
            must(/slurm job 81230 on n07/.test(train) && /COMPLETED · queued 2\.5s/.test(train),
                'train job: ' + train);
            const finish = await page.textContent('tr[data-step="finish"] .job');
            must(/slurm job 81231/.test(finish) && /PENDING \(Priority\) · waiting \d+s/.test(finish),
                'finish job: ' + finish);
            must(!/ on /.test(finish), 'a pending job has no node: ' + finish);
            const bars = await page.$$eval('.gantt-row', rows => rows.map(r => ({
                name: r.querySelector('.gantt-name').textContent,
                bars: [...r.querySelectorAll('.gantt-bar')].map(b => ({queue: b.classList.contains('gantt-queue'),
                    title: b.getAttribute('title'), left: parseFloat(b.style.left), width: parseFloat(b.style.width)})),
            })));
            const row = n => bars.find(r => r.name === n).bars;
            const [tq, tr] = [row('train').find(b => b.queue), row('train').find(b => !b.queue)];
            must(tq && tr, 'train has a queue bar and a run bar: ' + JSON.stringify(row('train')));
            must(tq.title === 'train attempt 1: queued 2.5s', 'train queue title: ' + tq.title);
            must(Math.abs(tq.left + tq.width - tr.left) < 0.01, 'the queue ends where the run starts');
            const fq = row('finish');
            must(fq.length === 1 && fq[0].queue && /^finish attempt 1: queued \d+s \(Priority\), still waiting$/.test(fq[0].title),
                'finish waits, without a run bar: ' + JSON.stringify(fq));
            must(await page.$$eval('tr[data-step="prepare"] .job', j => j.length) === 0, 'a cache hit has no job');
            await page.click('table.steps tr[data-step="train"]');
            await page.waitForFunction(() => /slurm job 81230 on n07 · COMPLETED/.test(
                (document.querySelector('#log-job') || {}).textContent || ''));
            await shot('run-slurm');
        });

        await step('comparing two runs shows the differing params highlighted and a chart canvas', async () => {
            await page.goto(base + '/compare?runs=1,2');
            await ready();
            await page.waitForSelector('#metric-chart canvas');
            const diff = await page.$$eval('tr[data-key="depth"] td.diff', t => t.length);
            must(diff === 2, 'depth cells highlighted: ' + diff);
            const lines = await page.$$eval('.grid2 canvas', c => c.length);
            must(lines >= 1, 'series charts: ' + lines);
            await shot('compare');
        });

        await step('approving the waiting model by clicking, with a comment, finishes its run', async () => {
            await page.goto(base + '/models/e2e-model');
            await ready();
            const card = '#challengers .decision[data-version]';
            await page.waitForSelector(card);
            await shot('model-before');
            await page.fill(card + ' textarea', 'looks good from the browser test');
            await page.click(card + ' button.approve');
            await page.waitForFunction(() => /v3 approved/.test(document.querySelector('#decided').textContent));
            await page.goto(base + '/runs/4');
            await ready();
            diag('run 4 status on opening its page: ' + await page.textContent('#run-status'));
            await page.waitForFunction(() => document.querySelector('#run-status').textContent === 'succeeded',
                null, {timeout: 15000});
            await page.waitForFunction(() => /finished/.test(document.querySelector('#log').textContent));
            await page.goto(base + '/models/e2e-model');
            await ready();
            await page.waitForFunction(() => /looks good from the browser test/.test(document.querySelector('#versions').textContent));
            await shot('model-after');
        });

        await step('triggering a run with a parameter from the pipeline page starts it', async () => {
            await page.goto(base + '/pipelines/e2e');
            await ready();
            const def = await page.inputValue('#param-depth');
            must(def === '3', 'depth prefilled with its default: ' + def);
            await shot('pipeline');
            await page.fill('#param-depth', '7');
            await page.click('#trigger');
            await page.waitForURL(/\/runs\/\d+/);
            await ready();
            const id = Number(/\/runs\/(\d+)/.exec(page.url())[1]);
            must(id === 7, 'new run id ' + id);
            await page.waitForFunction(() => /depth\s*7/.test(document.querySelector('#params').textContent));
            await page.goto(base + '/');
            await page.waitForSelector('table.runs tr[data-run="' + id + '"]');
            const trig = await page.textContent('tr[data-run="' + id + '"] td:nth-child(5)');
            must(trig === 'api', 'trigger ' + trig);
        });

        await step('a running step\'s log and the run\'s status update live, without a reload', async () => {
            await page.goto(base + '/pipelines/slow');
            await ready();
            await page.click('#trigger');
            await page.waitForURL(/\/runs\/\d+/);
            await ready();
            await page.evaluate(() => { window.__same_page = true; });
            await page.waitForFunction(() => /tick [12]/.test(document.querySelector('#log').textContent) &&
                document.querySelector('#run-status').textContent === 'running');
            await shot('run-live');
            await page.waitForFunction(() => /tick 5/.test(document.querySelector('#log').textContent) &&
                document.querySelector('#run-status').textContent === 'succeeded', null, {timeout: 15000});
            const log = await page.textContent('#log');
            must(/tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n/.test(log), 'each line once, in order: ' + JSON.stringify(log));
            must(await page.evaluate(() => window.__same_page === true), 'the page was reloaded');
        });

        await step('the runs list filters by status and pipeline, and pages back with "older"', async () => {
            const rows = () => page.$$eval('table.runs tbody tr', trs => trs.map(t => t.getAttribute('data-run')).join(','));
            await page.goto(base + '/?limit=3');
            await page.waitForSelector('table.runs tbody tr');
            must(await rows() === '8,7,6', 'first page: ' + await rows());
            await page.click('#older');
            await page.waitForURL(u => u.searchParams.get('before') === '6');
            await page.waitForSelector('table.runs tbody tr[data-run="5"]');
            must(await rows() === '5,4,3', 'second page: ' + await rows());
            await page.click('#older');
            await page.waitForSelector('table.runs tbody tr[data-run="2"]');
            must(await rows() === '2,1', 'last page: ' + await rows());
            await page.goto(base + '/');
            await page.waitForSelector('table.runs tbody tr');
            await page.selectOption('#filter-status', 'waiting');
            await page.waitForURL(u => u.searchParams.get('status') === 'waiting');
            await page.waitForFunction(() => document.querySelectorAll('table.runs tbody tr').length === 1);
            must(await rows() === '7', 'waiting runs: ' + await rows());
            await page.goto(base + '/');
            await page.waitForSelector('#filter-pipeline option[value="cat"]', {state: 'attached'});
            await page.selectOption('#filter-pipeline', 'cat');
            await page.waitForURL(u => u.searchParams.get('pipeline') === 'cat');
            await page.waitForFunction(() => document.querySelectorAll('table.runs tbody tr').length === 2);
            must(await rows() === '6,5', 'runs of cat: ' + await rows());
        });

        await step('a running run is cancelled, then retried, from its page', async () => {
            await page.goto(base + '/pipelines/slow');
            await ready();
            await page.click('#trigger');
            await page.waitForURL(/\/runs\/\d+/);
            await ready();
            const id = Number(/\/runs\/(\d+)/.exec(page.url())[1]);
            await page.waitForFunction(() => document.querySelector('#run-status').textContent === 'running');
            await page.click('#cancel');
            await page.waitForFunction(() => document.querySelector('#run-status').textContent === 'cancelled',
                null, {timeout: 15000});
            await page.click('#retry');
            await page.waitForURL(u => /^\/runs\/\d+$/.test(u.pathname) && u.pathname !== '/runs/' + id);
            await ready();
            must((await page.textContent('.meta')).includes('retry of #' + id), 'the retry names its parent');
        });

        await step('a hostile pipeline description and step log show as text, and no element comes of them', async () => {
            await page.goto(base + '/pipelines/xss-check');
            await ready();
            const desc = await page.textContent('#description');
            must(desc === XSS, 'description: ' + desc);
            must(/<img src=x onerror/.test(await page.textContent('#yaml')), 'yaml shown as text');
            await checkNoInjection(page);
            await page.goto(base + '/pipelines');
            await ready();
            must((await page.textContent('table.pipelines')).includes('<script>'), 'listed as text');
            await checkNoInjection(page);
            await page.goto(base + '/runs/3?step=shout');
            await ready();
            await page.waitForFunction(() => /after/.test(document.querySelector('#log').textContent));
            const log = await page.textContent('#log');
            must(log.includes(XSS), 'log: ' + log);
            await checkNoInjection(page);
            await shot('xss-log');
        });

        await step('catalog, lineage and the pipelines list render', async () => {
            await page.goto(base + '/catalog');
            await ready();
            await page.click('tr[data-table="e2e_table"] a');
            await page.waitForURL(u => u.pathname === '/catalog/e2e_table');
            await ready();
            const diff = await page.textContent('#schema-diff');
            must(/weight/.test(diff) && /added/.test(diff), 'schema diff: ' + diff);
            must(await page.$$eval('table.columns tbody tr', r => r.length) === 4, 'columns of v2');
            await shot('catalog');
            await page.goto(base + '/runs/1');
            await ready();
            const href = await page.getAttribute('#outputs a[href^="/lineage/"]', 'href');
            await page.click('#outputs a[href^="/lineage/"]');
            await page.waitForURL(u => u.pathname === href);
            await ready();
            await page.waitForFunction(() => {
                const img = document.querySelector('.graph img');
                return (img && img.complete && img.naturalWidth > 0) || document.querySelector('svg.drawn-graph');
            });
            must(await page.$('a[href="/runs/1"]') !== null, 'lineage links the producing run');
            await shot('lineage');
            await page.goto(base + '/pipelines');
            await ready();
            await shot('pipelines');
        });

        await step('the runs page renders under 1 s (bench target, reported)', async () => {
            const times = [];
            for (let i = 0; i < 3; i++) {
                const t0 = Date.now();
                await page.goto(base + '/');
                await page.waitForSelector('table.runs tbody tr');
                times.push(Date.now() - t0);
            }
            times.sort((a, b) => a - b);
            diag('runs page render: ' + times.join(', ') + ' ms (median ' + times[1] + ' ms, target < 1000 ms)');
        });

        await step('on a phone-sized screen the pages do not scroll sideways', async () => {
            await page.setViewportSize({width: 390, height: 844});
            for (const [url, name] of [['/', 'runs'], ['/runs/1', 'run'], ['/runs/2', 'run-slurm'], ['/models/e2e-model', 'model'],
                ['/compare?runs=1,2', 'compare']]) {
                await page.goto(base + url);
                await ready();
                const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
                must(over <= 1, name + ' is ' + over + ' px too wide');
                await shot('phone-' + name);
            }
            await page.setViewportSize({width: 1280, height: 900});
        });

        tap(cspErrors.length === 0, 'no page broke the Content-Security-Policy', cspErrors.join('\n'));
        tap(pageErrors.length === 0 && dialogs.length === 0, 'no script error and no dialog on any page',
            pageErrors.concat(dialogs.map(d => 'dialog: ' + d)).join('\n'));
    } catch (e) {
        tap(false, 'the browser tests ran', e.stack || String(e));
        diag('serve stderr: ' + srv.stderr().slice(-3000));
    } finally {
        if (browser)
            await browser.close().catch(() => {});
        srv.child.kill('SIGTERM');
        await new Promise(r => {
            const t = setTimeout(() => {
                srv.child.kill('SIGKILL');
                r();
            }, 5000);
            srv.child.on('exit', () => {
                clearTimeout(t);
                r();
            });
            if (srv.child.exitCode !== null)
                r();
        });
    }
    diag('screenshots: ' + shots + (KEEP ? '' : ' (removed; SLUICE_E2E_KEEP=1 keeps them)'));
    diag('e2e took ' + (Date.now() - t00) + ' ms');
}

function must(cond, msg) {
    if (!cond)
        throw new Error(msg);
}

async function step(desc, fn) {
    try {
        await fn();
        tap(true, desc);
    } catch (e) {
        tap(false, desc, e.stack || String(e));
    }
}

// Nothing of the hostile text became an element, and its script never ran.
async function checkNoInjection(page) {
    const r = await page.evaluate(() => ({
        imgs: document.querySelectorAll('img[src="x"], img[onerror]').length,
        inline: [...document.scripts].filter(s => !s.src).length,
        scripts: document.scripts.length,
        xss: window.__xss,
    }));
    must(r.imgs === 0, 'an injected <img> exists');
    must(r.inline === 0, 'an inline <script> exists');
    must(r.scripts === 2, 'scripts: ' + r.scripts);
    must(r.xss === undefined, 'the injected script ran');
}

main().catch(e => {
    tap(false, 'the browser tests ran', e.stack || String(e));
}).finally(() => {
    console.log('1..' + count);
    if (!KEEP)
        fs.rmSync(work, {recursive: true, force: true});
    process.exit(failed ? 1 : 0);
});
