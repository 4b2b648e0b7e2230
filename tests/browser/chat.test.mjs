// The demo chat page in headless Chromium against `bennu --dev`: a
// WebSocket page and a LongPoll page chat in room:lobby, and the injected
// dev token lets a page join room:secret. Chromium is the Debian package.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { chromium } from 'playwright-core';

import { withServer } from '../js/support/server.mjs';

const CHROMIUM = process.env.BENNU_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];

delete process.env.SECRET_KEY_BASE;

async function openChat(browser, base, query, pageErrors) {
    const page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${query}: ${e.message}`));
    await page.goto(`${base}/${query}`);
    try {
        await page.waitForSelector('#status[data-state="joined"]', { timeout: 10000 });
    } catch (e) {
        const st = await page.$eval('#status', (el) => `${el.dataset.state}: ${el.textContent}`).catch(() => '?');
        e.message = `page /${query} never joined (status ${st}; page errors ${JSON.stringify(pageErrors)})\n${e.message}`;
        throw e;
    }
    return page;
}

async function say(page, text) {
    await page.fill('#chat-input', text);
    await page.press('#chat-input', 'Enter');
    assert.equal(await page.inputValue('#chat-input'), '', 'input cleared after Enter');
}

/** Wait until #messages holds exactly `bodies` (in order) as "[time] body". */
async function waitMessages(page, bodies) {
    await page.waitForFunction((n) => document.querySelectorAll('#messages p').length >= n,
        bodies.length, { timeout: 10000 });
    const texts = await page.$$eval('#messages p', (ps) => ps.map((p) => p.innerText));
    assert.equal(texts.length, bodies.length, `messages: ${JSON.stringify(texts)}`);
    texts.forEach((t, i) => {
        const m = /^\[(.+)\] (.*)$/.exec(t);
        assert.ok(m, `message format: ${t}`);
        assert.ok(m[1].length > 0, 'time stamp');
        assert.equal(m[2], bodies[i]);
    });
}

test('demo page: WebSocket and LongPoll pages chat; room:secret joins with the dev token', { timeout: 60000 },
    () => withServer(['--dev'], async (srv) => {
        const base = `http://127.0.0.1:${srv.port}`;
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-browser-'));
        const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
        const pageErrors = [];
        try {
            // The dev page carries a token for user "demo".
            const html = await (await fetch(`${base}/`)).text();
            assert.match(html, /window\.userToken = "SFMyNTY\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"/);

            const wsPage = await openChat(browser, base, '', pageErrors);
            const lpPage = await openChat(browser, base, '?transport=longpoll', pageErrors);
            assert.match(await wsPage.textContent('#status'), /joined room:lobby \(websocket\)/);
            assert.match(await lpPage.textContent('#status'), /joined room:lobby \(longpoll\)/);

            // #presence (phoenix.js Presence): both pages are user "demo"
            // (the dev token), so one key with two metas; a named page
            // without a token would be listed under its name.
            const presence = (page) => page.$$eval('#presence li',
                (lis) => lis.map((li) => `${li.dataset.key}:${li.dataset.count}`).sort());
            await wsPage.waitForFunction(() => document.querySelector('#presence li[data-key="demo"]')
                ?.dataset.count === '2', null, { timeout: 10000 });
            assert.deepEqual(await presence(wsPage), ['demo:2']);
            await lpPage.waitForFunction(() => document.querySelector('#presence li[data-key="demo"]')
                ?.dataset.count === '2', null, { timeout: 10000 });
            assert.match(await wsPage.textContent('#presence'), /demo \(2\) on /);

            await say(wsPage, 'hello from websocket');
            await waitMessages(wsPage, ['hello from websocket']);
            await waitMessages(lpPage, ['hello from websocket']);
            await say(lpPage, 'hello from longpoll <b>not bold</b>');
            const both = ['hello from websocket', 'hello from longpoll <b>not bold</b>'];
            await waitMessages(wsPage, both);
            await waitMessages(lpPage, both);
            // Text, not HTML: no <b> element was created.
            assert.equal(await wsPage.$$eval('#messages b', (bs) => bs.length), 0);

            // The room:secret page joins thanks to the injected token, on
            // both transports, and its messages stay out of the lobby.
            const secretWs = await openChat(browser, base, '?room=room:secret', pageErrors);
            const secretLp = await openChat(browser, base, '?room=room:secret&transport=longpoll', pageErrors);
            assert.match(await secretWs.textContent('#status'), /joined room:secret/);
            await say(secretLp, 'secret words');
            await waitMessages(secretWs, ['secret words']);
            // room:secret is not tracked: its pages list nobody
            assert.deepEqual(await presence(secretWs), []);
            await waitMessages(secretLp, ['secret words']);
            await say(wsPage, 'lobby again');
            await waitMessages(lpPage, [...both, 'lobby again']);
            await waitMessages(secretWs, ['secret words']);

            const shot = path.join(dir, 'chat.png');
            await wsPage.screenshot({ path: shot, fullPage: true });
            assert.ok(fs.statSync(shot).size > 0, 'screenshot is empty');
            // a page that goes away (its WebSocket closes) leaves the list
            await wsPage.close();
            await lpPage.waitForFunction(() => document.querySelector('#presence li[data-key="demo"]')
                ?.dataset.count === '1', null, { timeout: 10000 });
            assert.deepEqual(pageErrors, []);
        } finally {
            await browser.close();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }));
