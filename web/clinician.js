/*
 * The clinician page: calls the patient-view hook as an EHR would, renders the cards as the CDS Hooks
 * sandbox does (indicator, summary, safe markdown detail, source, suggestions, links), sends feedback
 * (accepted with acceptedSuggestions; overridden with overrideReason), and lists the patient's
 * RiskAssessments, newest first.
 */
(function () {
  'use strict';
  var P = window.CalfPainPages;
  var el = P.el;
  var config = P.readConfig();
  var extensionOf = P.extensionOf;

  var SAFE_URL = /^(https?:\/\/|\/(?!\/))/i;
  var INDICATOR_LABEL = { critical: 'Critical', warning: 'Warning', info: 'Info' };

  var statusEl = document.getElementById('status');
  var cardsEl = document.getElementById('cards');
  var historyEl = document.getElementById('history');
  var refreshButton = document.getElementById('refresh');
  var userId = 'Practitioner/dev-clinician';

  function setStatus(text) {
    statusEl.textContent = text;
  }

  function safeLink(url, label) {
    if (typeof url === 'string' && SAFE_URL.test(url)) {
      var a = el('a', { href: url, rel: 'noopener noreferrer' }, [label]);
      if (/^https?:/i.test(url)) a.setAttribute('target', '_blank');
      return a;
    }
    return document.createTextNode(label);
  }

  // ---------------------------------------------------------------------------------------------
  // Feedback

  function sendFeedback(entry) {
    entry.outcomeTimestamp = new Date().toISOString();
    return P.cdsRequest(config, config.patientViewService + '/feedback', { feedback: [entry] }).then(function (res) {
      if (!res.ok) throw new Error('Feedback was not recorded: ' + P.problemText(res));
      return res;
    });
  }

  function closeCard(cardEl, message) {
    Array.prototype.forEach.call(cardEl.querySelectorAll('button, select, textarea'), function (b) {
      b.disabled = true;
    });
    var outcome = cardEl.querySelector('.card-outcome');
    outcome.textContent = message;
    outcome.hidden = false;
    cardEl.classList.add('card-closed');
    outcome.focus();
  }

  function failed(cardEl, e) {
    var outcome = cardEl.querySelector('.card-outcome');
    outcome.textContent = e.message;
    outcome.hidden = false;
  }

  function acceptSuggestion(card, suggestion, cardEl) {
    var entry = { card: card.uuid, outcome: 'accepted' };
    if (suggestion.uuid) entry.acceptedSuggestions = [{ id: suggestion.uuid }];
    sendFeedback(entry).then(
      function () {
        var actions = (suggestion.actions || [])
          .map(function (a) {
            return a.description;
          })
          .filter(Boolean);
        closeCard(
          cardEl,
          'Accepted: ' +
            suggestion.label +
            (actions.length ? ' (' + actions.join('; ') + ')' : '') +
            '. Feedback sent. This page is not an EHR: no order was placed.',
        );
      },
      function (e) {
        failed(cardEl, e);
      },
    );
  }

  function dismissForm(card, cardEl, n) {
    var reasons = card.overrideReasons || [];
    var form = el('form', { className: 'dismiss-form', hidden: true });
    var selectId = 'override-reason-' + n;
    var commentId = 'override-comment-' + n;
    if (reasons.length) {
      var select = el('select', { id: selectId, name: 'reason' }, [el('option', { value: '' }, ['Choose a reason'])]);
      reasons.forEach(function (r, i) {
        select.appendChild(el('option', { value: String(i) }, [r.display || r.code]));
      });
      form.appendChild(el('label', { for: selectId }, ['Reason for dismissing']));
      form.appendChild(select);
    }
    form.appendChild(el('label', { for: commentId }, ['Comment (optional)']));
    form.appendChild(el('textarea', { id: commentId, name: 'comment', rows: '2', maxlength: '500' }));
    form.appendChild(el('button', { type: 'submit' }, ['Dismiss card']));
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var entry = { card: card.uuid, outcome: 'overridden' };
      var chosen = form.elements.reason ? form.elements.reason.value : '';
      var comment = form.elements.comment.value.trim();
      var reason = chosen !== '' ? reasons[Number(chosen)] : undefined;
      if (reason || comment) {
        entry.overrideReason = {};
        if (reason) entry.overrideReason.reason = { code: reason.code, system: reason.system, display: reason.display };
        if (comment) entry.overrideReason.userComment = comment;
      }
      sendFeedback(entry).then(
        function () {
          closeCard(cardEl, 'Dismissed' + (reason ? ': ' + (reason.display || reason.code) : '') + '. Feedback sent.');
        },
        function (e) {
          failed(cardEl, e);
        },
      );
    });
    return form;
  }

  // ---------------------------------------------------------------------------------------------
  // Cards

  function renderCard(card, n) {
    var indicator = INDICATOR_LABEL[card.indicator] ? card.indicator : 'info';
    var headingId = 'card-summary-' + n;
    var cardEl = el('article', { className: 'card card-' + indicator, 'aria-labelledby': headingId, 'data-card-uuid': card.uuid });
    cardEl.appendChild(el('p', { className: 'card-indicator' }, [INDICATOR_LABEL[indicator]]));
    cardEl.appendChild(el('h3', { id: headingId, className: 'card-summary' }, [card.summary || '']));
    if (card.source && card.source.label) {
      cardEl.appendChild(el('p', { className: 'card-source' }, ['Source: ', safeLink(card.source.url, card.source.label)]));
    }
    if (card.detail) {
      var detail = el('div', { className: 'card-detail' });
      detail.appendChild(window.CardMarkdown.render(card.detail, document));
      cardEl.appendChild(detail);
    }
    var actions = el('div', { className: 'card-actions' });
    (card.suggestions || []).forEach(function (s) {
      var button = el('button', { type: 'button', className: s.isRecommended ? 'suggestion primary' : 'suggestion' }, [
        s.label + (s.isRecommended ? ' (recommended)' : ''),
      ]);
      button.addEventListener('click', function () {
        acceptSuggestion(card, s, cardEl);
      });
      actions.appendChild(button);
    });
    (card.links || []).forEach(function (link) {
      actions.appendChild(
        el('span', { className: 'card-link' }, [safeLink(link.url, link.label + (link.type === 'smart' ? ' (app)' : ''))]),
      );
    });
    var form = dismissForm(card, cardEl, n);
    var dismiss = el('button', { type: 'button', className: 'dismiss', 'aria-expanded': 'false' }, ['Dismiss…']);
    dismiss.addEventListener('click', function () {
      form.hidden = !form.hidden;
      dismiss.setAttribute('aria-expanded', String(!form.hidden));
      if (!form.hidden) (form.querySelector('select, textarea') || form).focus();
    });
    actions.appendChild(dismiss);
    cardEl.appendChild(actions);
    cardEl.appendChild(form);
    cardEl.appendChild(el('p', { className: 'card-outcome', role: 'status', tabindex: '-1', hidden: true }));
    return cardEl;
  }

  function callHook() {
    refreshButton.disabled = true;
    setStatus('Calling the patient-view hook…');
    cardsEl.textContent = '';
    var request = {
      hook: 'patient-view',
      hookInstance: P.uuid(),
      context: { userId: userId, patientId: config.patient },
    };
    return P.cdsRequest(config, config.patientViewService, request)
      .then(function (res) {
        if (res.status === 412) {
          setStatus('No cards.');
          cardsEl.appendChild(
            el('p', { className: 'empty' }, [
              'No calf-pain questionnaire response could be found for this patient, so the service has no advice. Ask the patient to complete the questionnaire.',
            ]),
          );
          return;
        }
        if (!res.ok || !res.body || !Array.isArray(res.body.cards)) throw new Error('The hook call failed: ' + P.problemText(res));
        var cards = res.body.cards;
        setStatus(cards.length ? cards.length + (cards.length === 1 ? ' card.' : ' cards.') : 'No cards.');
        if (!cards.length)
          cardsEl.appendChild(el('p', { className: 'empty' }, ['No cards: no recent calf-pain questionnaire response for this patient.']));
        cards.forEach(function (card, n) {
          cardsEl.appendChild(renderCard(card, n));
        });
      })
      .catch(function (e) {
        setStatus('');
        cardsEl.appendChild(el('p', { className: 'problems', role: 'alert' }, [e.message]));
      })
      .then(function () {
        refreshButton.disabled = false;
      });
  }

  // ---------------------------------------------------------------------------------------------
  // RiskAssessment history

  function codeOf(concept) {
    return concept && concept.coding && concept.coding[0] && concept.coding[0].code;
  }

  function describe(ra) {
    var predictions = ra.prediction || [];
    var dvt = predictions[0] || {};
    var score = extensionOf(ra, 'wells-score');
    var range = extensionOf(ra, 'wells-score-range');
    var twoLevel = extensionOf(dvt, 'wells-two-level');
    var pe = predictions.some(function (p) {
      return P.hasCode(p.outcome, P.SNOMED, P.PE_CODE);
    });
    var top = predictions
      .filter(function (p) {
        return extensionOf(p, 'differential-rank');
      })
      .sort(function (a, b) {
        return extensionOf(a, 'differential-rank').valueInteger - extensionOf(b, 'differential-rank').valueInteger;
      })[0];
    return {
      date: ra.occurrenceDateTime,
      status: ra.status,
      score: score
        ? String(score.valueInteger)
        : range
          ? range.valueRange.low.value + ' to ' + range.valueRange.high.value + ' (range)'
          : '',
      category: twoLevel ? twoLevel.valueCodeableConcept.text || codeOf(twoLevel.valueCodeableConcept) : 'not determined',
      risk: dvt.qualitativeRisk ? dvt.qualitativeRisk.text || codeOf(dvt.qualitativeRisk) : '',
      pe: pe,
      top: top && top.outcome ? top.outcome.text || (top.outcome.coding && top.outcome.coding[0].display) : '',
      basis: ra.basis && ra.basis[0] ? ra.basis[0].reference || ra.basis[0].display : '',
    };
  }

  function loadHistory() {
    historyEl.textContent = '';
    var query = '/RiskAssessment?patient=' + encodeURIComponent(config.patient) + '&_sort=-date&_count=50';
    return P.fhirRequest(config, 'clinician', 'GET', query)
      .then(function (res) {
        if (!res.ok || !res.body) throw new Error('Risk assessments could not be read: ' + P.problemText(res));
        var rows = (res.body.entry || []).map(function (e) {
          return e.resource;
        });
        if (!rows.length) {
          historyEl.appendChild(el('p', { className: 'empty' }, ['No risk assessments for this patient yet.']));
          return;
        }
        var tbody = el('tbody');
        rows.forEach(function (ra) {
          var d = describe(ra);
          tbody.appendChild(
            el('tr', {}, [
              el('td', {}, [P.formatDate(d.date)]),
              el('td', {}, [d.status || '']),
              el('td', {}, [d.score]),
              el('td', {}, [d.category + (d.risk ? '; ' + d.risk : '')]),
              el('td', { className: d.pe ? 'pe-yes' : '' }, [d.pe ? 'Yes: emergency' : 'No']),
              el('td', {}, [d.top]),
              el('td', {}, [el('code', {}, ['RiskAssessment/' + ra.id]), el('br'), d.basis]),
            ]),
          );
        });
        var head = el(
          'tr',
          {},
          ['Date', 'Status', 'Wells score', 'Two-level category', 'PE red flag', 'Most likely cause', 'Resource'].map(function (h) {
            return el('th', { scope: 'col' }, [h]);
          }),
        );
        historyEl.appendChild(
          el('div', { className: 'table-scroll', role: 'region', 'aria-labelledby': 'history-heading', tabindex: '0' }, [
            el('table', { id: 'history-table' }, [
              el('caption', { className: 'small' }, [rows.length + ' risk assessment' + (rows.length === 1 ? '' : 's') + ', newest first']),
              el('thead', {}, [head]),
              tbody,
            ]),
          ]),
        );
      })
      .catch(function (e) {
        historyEl.appendChild(el('p', { className: 'problems', role: 'alert' }, [e.message]));
      });
  }

  refreshButton.addEventListener('click', callHook);
  Promise.all([callHook(), loadHistory()]).then(function () {
    document.body.setAttribute('data-page-ready', 'true');
  });
})();
