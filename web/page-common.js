/*
 * Shared by the portal and clinician pages: the page's configuration, tokens (none, the development
 * sign-in, or the embedding application), fetch helpers and a DOM builder that only ever sets text.
 */
(function () {
  'use strict';

  function readConfig() {
    var node = document.getElementById('page-config');
    return JSON.parse(node.textContent);
  }

  /** RFC 4122 version 4 UUID; getRandomValues works on plain-http origins too (randomUUID does not). */
  function uuid() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map
      .call(b, function (x) {
        return (x + 0x100).toString(16).slice(1);
      })
      .join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  /** el('p', {className: 'x'}, ['text', child]): attributes as properties, children as text or nodes. */
  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === 'className' || key === 'textContent' || key === 'hidden' || key === 'disabled' || key === 'type' || key === 'value')
        node[key] = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === undefined || child === null || child === false) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  // ---------------------------------------------------------------------------------------------
  // Tokens

  var EMBED_TIMEOUT_MS = 10000;
  var cache = {};

  function devSignIn(path, body) {
    return fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }).then(
      function (res) {
        if (!res.ok) throw new Error('Sign-in failed (HTTP ' + res.status + ')');
        return res.json();
      },
    );
  }

  /**
   * Production: ask the application that opened or frames this page. Request:
   * {type: 'calf-pain-cds/token-request', id, kind: 'fhir' | 'cds', role, patient?, audience};
   * answer: {type: 'calf-pain-cds/token', id, token, expiresIn}. Only the opener may answer (the
   * pages cannot be framed: frame-ancestors 'none').
   */
  function askEmbeddingApp(request) {
    var target = window.opener;
    if (!target) return Promise.reject(new Error('Sign-in needed: open this page from your patient portal or EHR.'));
    var id = uuid();
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        window.removeEventListener('message', onMessage);
        reject(new Error('Sign-in needed: the application that opened this page did not provide a token.'));
      }, EMBED_TIMEOUT_MS);
      function onMessage(event) {
        var data = event.data;
        if (event.source !== target || !data || data.type !== 'calf-pain-cds/token' || data.id !== id || typeof data.token !== 'string')
          return;
        clearTimeout(timer);
        window.removeEventListener('message', onMessage);
        resolve({ token: data.token, expiresIn: Number(data.expiresIn) || 60 });
      }
      window.addEventListener('message', onMessage);
      var message = Object.assign({ type: 'calf-pain-cds/token-request', id: id }, request);
      target.postMessage(message, '*');
    });
  }

  /** A FHIR API token for this page's session (patient or clinician), reused until shortly before it expires. */
  function fhirToken(config, role) {
    if (config.tokenSource === 'none') return Promise.resolve(undefined);
    var hit = cache[role];
    if (hit && hit.until > Date.now()) return Promise.resolve(hit.token);
    var request = { kind: 'fhir', role: role, patient: config.patient, audience: location.origin + config.fhirBase };
    var got =
      config.tokenSource === 'dev-sign-in'
        ? devSignIn('/dev/sign-in', role === 'patient' ? { role: 'patient', patient: config.patient } : { role: 'clinician' })
        : askEmbeddingApp(request);
    return got.then(function (minted) {
      cache[role] = { token: minted.token, until: Date.now() + Math.max(0, minted.expiresIn - 30) * 1000 };
      return minted.token;
    });
  }

  /** CDS Hooks JWTs authenticate one call each (aud = the exact endpoint): a new one every time. */
  function cdsToken(config, endpoint) {
    if (config.tokenSource === 'none') return Promise.resolve(undefined);
    if (config.tokenSource === 'dev-sign-in')
      return devSignIn('/dev/cds-token', { endpoint: endpoint }).then(function (m) {
        return m.token;
      });
    return askEmbeddingApp({
      kind: 'cds',
      role: 'clinician',
      patient: config.patient,
      audience: location.origin + config.cdsBase + '/' + endpoint,
    }).then(function (m) {
      return m.token;
    });
  }

  function withAuth(headers, token) {
    if (token) headers.Authorization = 'Bearer ' + token;
    return headers;
  }

  /** JSON in and out; resolves {status, ok, body, headers} (body undefined when not JSON). Rejects only on network failure. */
  function requestJson(url, options) {
    return fetch(url, options).then(function (res) {
      return res.text().then(function (text) {
        var body;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch (e) {
          body = undefined;
        }
        return { status: res.status, ok: res.ok, body: body, headers: res.headers };
      });
    });
  }

  function fhirRequest(config, role, method, path, resource, extraHeaders) {
    return fhirToken(config, role).then(function (token) {
      var headers = withAuth(Object.assign({ Accept: 'application/fhir+json' }, extraHeaders || {}), token);
      if (resource) headers['Content-Type'] = 'application/fhir+json';
      return requestJson(config.fhirBase + path, {
        method: method,
        headers: headers,
        body: resource ? JSON.stringify(resource) : undefined,
      });
    });
  }

  function cdsRequest(config, endpoint, body) {
    return cdsToken(config, endpoint).then(function (token) {
      return requestJson(config.cdsBase + '/' + endpoint, {
        method: 'POST',
        headers: withAuth({ 'Content-Type': 'application/json', Accept: 'application/json' }, token),
        body: JSON.stringify(body),
      });
    });
  }

  /** The first human-readable message of an OperationOutcome or CDS error body. */
  function problemText(response) {
    var body = response.body || {};
    if (body.resourceType === 'OperationOutcome' && body.issue && body.issue.length) {
      return body.issue
        .map(function (i) {
          return i.diagnostics || i.code;
        })
        .join('; ');
    }
    return body.message || 'HTTP ' + response.status;
  }

  function formatDate(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return d.toLocaleString('en-GB', {
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZone: 'UTC',
      timeZoneName: 'short',
    });
  }

  var EXT = 'http://calfpain.example.org/fhir/StructureDefinition/';
  var SNOMED = 'http://snomed.info/sct';
  var PE_CODE = '59282003';

  /** The resource's (or element's) extension with this service's StructureDefinition name, if any. */
  function extensionOf(resource, name) {
    return ((resource && resource.extension) || []).filter(function (x) {
      return x.url === EXT + name;
    })[0];
  }

  /** Whether the CodeableConcept carries the code in the system. */
  function hasCode(concept, system, code) {
    return !!((concept && concept.coding) || []).some(function (c) {
      return c.system === system && c.code === code;
    });
  }

  window.CalfPainPages = {
    SNOMED: SNOMED,
    PE_CODE: PE_CODE,
    extensionOf: extensionOf,
    hasCode: hasCode,
    readConfig: readConfig,
    uuid: uuid,
    el: el,
    fhirToken: fhirToken,
    fhirRequest: fhirRequest,
    cdsRequest: cdsRequest,
    problemText: problemText,
    formatDate: formatDate,
  };
})();
