/*
 * The patient portal page: the calf-pain Questionnaire in LHC-Forms, the Wells score as the
 * Questionnaire's own calculatedExpression computes it, Submit (POST /fhir/QuestionnaireResponse,
 * safe to retry), then the RiskAssessment in plain language, emergency message first.
 */
(function () {
  'use strict';
  var P = window.CalfPainPages;
  var el = P.el;
  var config = P.readConfig();

  var IDENTIFIER_SYSTEM = 'urn:ietf:rfc:3986';

  var formEl = document.getElementById('questionnaire-form');
  var statusEl = document.getElementById('status');
  var scoreEl = document.getElementById('live-score');
  var problemsEl = document.getElementById('form-problems');
  var resultEl = document.getElementById('result');
  var submitButton = document.getElementById('submit');

  var questionnaire;
  var wellsLinkIds = [];
  /** One submission = one identifier and authored time, kept across retries until it is stored. */
  var pending = null;
  var submitting = false;

  function setStatus(text) {
    statusEl.textContent = text;
  }

  function waitForLForms() {
    return new Promise(function (resolve, reject) {
      var started = Date.now();
      (function poll() {
        var L = window.LForms;
        if (L && L.Util && L.Util.addFormToPage && L.Util.getFormFHIRData && L.FHIR && L.FHIR.R4) return resolve(L);
        if (Date.now() - started > 30000) return reject(new Error('The form could not be loaded. Please reload the page.'));
        setTimeout(poll, 50);
      })();
    });
  }

  function walk(items, visit, parents) {
    (items || []).forEach(function (item) {
      visit(item, parents || []);
      walk(item.item, visit, (parents || []).concat([item]));
    });
  }

  /** The ten Wells criteria: the boolean items the score's variables name (linkIds "wells-..."). */
  function wellsCriteria(q) {
    var ids = [];
    walk(q.item, function (item) {
      if (item.type === 'boolean' && /^wells-/.test(item.linkId)) ids.push(item.linkId);
    });
    return ids;
  }

  function currentResponse() {
    var qr = LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', formEl, { subject: { reference: 'Patient/' + config.patient } });
    return qr;
  }

  function answersByLinkId(qr) {
    var map = {};
    walk(qr.item, function (item) {
      if (item.answer && item.answer.length) map[item.linkId] = item.answer;
    });
    return map;
  }

  // ---------------------------------------------------------------------------------------------
  // Live Wells score (computed by LHC-Forms from the Questionnaire's calculatedExpression)

  var scoreTimer;

  function scheduleScore() {
    clearTimeout(scoreTimer);
    // LHC-Forms runs the Questionnaire's expressions shortly after each answer: read once soon, once after.
    scoreTimer = setTimeout(function () {
      showScore();
      scoreTimer = setTimeout(showScore, 900);
    }, 200);
  }

  function showScore() {
    var answers;
    try {
      answers = answersByLinkId(currentResponse());
    } catch (e) {
      return;
    }
    var answered = wellsLinkIds.filter(function (id) {
      return answers[id];
    }).length;
    var score = answers['wells-score'] && answers['wells-score'][0].valueInteger;
    if (typeof score !== 'number') {
      // The calculated item as LHC-Forms displays it (read-only field).
      var field = document.getElementById('wells-score/1');
      var shown = field && field.value !== '' ? Number(field.value) : NaN;
      if (answered === wellsLinkIds.length && Number.isInteger(shown)) score = shown;
    }
    scoreEl.hidden = false;
    scoreEl.textContent = '';
    if (typeof score === 'number') {
      scoreEl.appendChild(
        el('p', {}, [
          el('strong', {}, ['Wells DVT score: ' + score]),
          ' (all ten Wells questions answered). Press Submit to see what it means.',
        ]),
      );
    } else {
      scoreEl.appendChild(
        el('p', {}, [
          el('strong', {}, ['Wells DVT score: not yet calculated. ']),
          answered +
            ' of ' +
            wellsLinkIds.length +
            ' Wells questions answered; the score appears when all are answered (the examination questions are for a clinician).',
        ]),
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The second language: the Questionnaire's own FHIR translation extensions (texts and answer displays)

  var TRANSLATION = 'http://hl7.org/fhir/StructureDefinition/translation';

  function translated(element, lang) {
    var found = ((element && element.extension) || []).filter(function (e) {
      return (
        e.url === TRANSLATION &&
        (e.extension || []).some(function (x) {
          return x.url === 'lang' && x.valueCode === lang;
        })
      );
    })[0];
    var content =
      found &&
      found.extension.filter(function (x) {
        return x.url === 'content';
      })[0];
    return content && content.valueString;
  }

  /**
   * The patient answers this form themselves: pre-filling from the chart is the clinician's $populate.
   * LHC-Forms evaluates the population expressions (launchContext, x-fhir-query variables,
   * itemPopulationContext, initialExpression) at load even without a launch context, and fails on the
   * missing %patient; the form rendered here leaves them out (the stored response is unaffected).
   */
  var POPULATION = /sdc-questionnaire-(launchContext|itemPopulationContext|initialExpression)$/;

  function withoutChartPopulation(q) {
    function keep(e) {
      return !POPULATION.test(e.url) && !(e.valueExpression && e.valueExpression.language === 'application/x-fhir-query');
    }
    function items(list) {
      return (list || []).map(function (item) {
        var copy = Object.assign({}, item);
        if (item.extension) copy.extension = item.extension.filter(keep);
        if (copy.extension && !copy.extension.length) delete copy.extension;
        if (item.item) copy.item = items(item.item);
        return copy;
      });
    }
    return Object.assign({}, q, { extension: (q.extension || []).filter(keep), item: items(q.item) });
  }

  function localize(q, lang) {
    if (!lang || lang === 'en') return q;
    function items(list) {
      return (list || []).map(function (item) {
        var copy = Object.assign({}, item);
        if (item.text) copy.text = translated(item._text, lang) || item.text;
        if (item.answerOption) {
          copy.answerOption = item.answerOption.map(function (o) {
            if (!o.valueCoding || !o.valueCoding.display) return o;
            return Object.assign({}, o, {
              valueCoding: Object.assign({}, o.valueCoding, { display: translated(o.valueCoding._display, lang) || o.valueCoding.display }),
            });
          });
        }
        if (item.item) copy.item = items(item.item);
        return copy;
      });
    }
    return Object.assign({}, q, { language: lang, title: translated(q._title, lang) || q.title, item: items(q.item) });
  }

  // ---------------------------------------------------------------------------------------------
  // Submitting

  function prepareResponse() {
    var qr = currentResponse();
    if (!pending) pending = { identifier: 'urn:uuid:' + P.uuid(), authored: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') };
    qr.status = 'completed';
    qr.questionnaire = questionnaire.url + '|' + questionnaire.version;
    qr.subject = { reference: 'Patient/' + config.patient };
    qr.authored = pending.authored;
    qr.identifier = { system: IDENTIFIER_SYSTEM, value: pending.identifier };
    // The service answers the RiskAssessment's next steps in the response's language.
    if (config.language) qr.language = config.language;
    delete qr.id;
    delete qr.meta;
    return qr;
  }

  /**
   * After an attempt whose outcome is unknown (network failure, 5xx), the response may have been stored:
   * look for it (same patient, same authored instant, same identifier) before posting again.
   */
  function findStored(p) {
    var query =
      '/QuestionnaireResponse?patient=' + encodeURIComponent(config.patient) + '&authored=' + encodeURIComponent(p.authored) + '&_count=50';
    return P.fhirRequest(config, 'patient', 'GET', query).then(function (res) {
      if (!res.ok || !res.body || !res.body.entry) return undefined;
      var hit = res.body.entry
        .map(function (e) {
          return e.resource;
        })
        .filter(function (r) {
          return r && r.identifier && r.identifier.value === p.identifier;
        })[0];
      return hit;
    });
  }

  function assessmentFor(responseId) {
    var query = '/RiskAssessment?basis=' + encodeURIComponent('QuestionnaireResponse/' + responseId) + '&_count=1';
    return P.fhirRequest(config, 'patient', 'GET', query).then(function (res) {
      var entry = res.ok && res.body && res.body.entry && res.body.entry[0];
      if (!entry) throw new Error('Your answers were saved, but the result could not be read. Please reload the page.');
      return entry.resource;
    });
  }

  function submit() {
    if (submitting) return;
    submitting = true;
    submitButton.disabled = true;
    submitButton.setAttribute('aria-busy', 'true');
    clearProblems();
    setStatus('Sending your answers…');
    var qr;
    try {
      qr = prepareResponse();
    } catch (e) {
      finish();
      return showFailure('Your answers could not be read from the form: ' + e.message);
    }
    var attempt = pending;
    var before = attempt.tried ? findStored(attempt) : Promise.resolve(undefined);
    before
      .then(function (stored) {
        if (stored)
          return assessmentFor(stored.id).then(function (ra) {
            return { stored: stored, ra: ra };
          });
        attempt.tried = true;
        return P.fhirRequest(config, 'patient', 'POST', '/QuestionnaireResponse', qr).then(function (res) {
          if (res.status === 201)
            return assessmentFor(res.body.id).then(function (ra) {
              return { stored: res.body, ra: ra };
            });
          if (res.status === 422 || res.status === 400) {
            // Refused for certain: nothing was stored, so the next Submit is a new submission.
            pending = null;
            showProblems(qr, res.body);
            setStatus('Please check the answers marked below, then press Submit again.');
            return undefined;
          }
          if (res.status >= 500)
            throw new Error(
              'The service had a problem (HTTP ' + res.status + '). Press Submit again: your answers will not be stored twice.',
            );
          pending = null;
          throw new Error(P.problemText(res));
        });
      })
      .then(function (done) {
        if (!done) return;
        pending = null;
        showResult(done.ra, done.stored);
      })
      .catch(function (e) {
        showFailure(e && e.message ? e.message : 'The answers could not be sent. Press Submit again.');
      })
      .then(finish);
  }

  function finish() {
    submitting = false;
    submitButton.disabled = false;
    submitButton.removeAttribute('aria-busy');
  }

  function showFailure(message) {
    setStatus('');
    problemsEl.hidden = false;
    problemsEl.textContent = '';
    problemsEl.appendChild(el('h2', {}, ['Your answers were not sent']));
    problemsEl.appendChild(el('p', {}, [message]));
    problemsEl.focus();
  }

  function clearProblems() {
    problemsEl.hidden = true;
    problemsEl.textContent = '';
    Array.prototype.forEach.call(document.querySelectorAll('.answer-problem'), function (n) {
      n.remove();
    });
  }

  /** `QuestionnaireResponse.item[1].item[0].answer[0]` -> the linkId of the item it points at, in the response sent. */
  function linkIdAt(qr, expression) {
    var steps = String(expression || '').match(/item\[(\d+)\]/g);
    if (!steps) return undefined;
    var node = qr;
    var linkId;
    for (var i = 0; i < steps.length; i++) {
      var index = Number(/\d+/.exec(steps[i])[0]);
      node = node && node.item && node.item[index];
      if (!node) return linkId;
      linkId = node.linkId;
    }
    return linkId;
  }

  function itemElement(linkId) {
    return document.getElementById('item-' + linkId + '/1/1') || document.getElementById('item-' + linkId + '/1');
  }

  /** Each problem next to the answer it concerns (and listed at the top, with a link to it). */
  function showProblems(qr, outcome) {
    var issues = (outcome && outcome.issue) || [{ diagnostics: 'The answers were refused.' }];
    var list = el('ul');
    issues.forEach(function (issue, n) {
      var message = issue.diagnostics || issue.code || 'Problem';
      var linkId = linkIdAt(qr, issue.expression && issue.expression[0]);
      var target = linkId && itemElement(linkId);
      if (target) {
        var id = 'answer-problem-' + n;
        target.appendChild(el('p', { className: 'answer-problem', id: id, role: 'note' }, [el('strong', {}, ['Problem: ']), message]));
        var input = target.querySelector('input, [role="radiogroup"]');
        if (input) input.setAttribute('aria-describedby', id);
        list.appendChild(el('li', {}, [el('a', { href: '#' + id }, [message])]));
      } else {
        list.appendChild(el('li', {}, [message]));
      }
    });
    problemsEl.hidden = false;
    problemsEl.textContent = '';
    problemsEl.appendChild(el('h2', {}, ['Some answers need attention']));
    problemsEl.appendChild(list);
    problemsEl.focus();
  }

  // ---------------------------------------------------------------------------------------------
  // The result, in plain language

  function riskCode(prediction) {
    var coding = prediction.qualitativeRisk && prediction.qualitativeRisk.coding;
    return coding && coding[0] && coding[0].code;
  }

  var NEXT = {
    likely: {
      heading: 'A blood clot in the leg (DVT) is possible',
      text: 'Your answers mean a blood clot in a deep vein of the leg is likely enough that you need a scan of the leg veins (an ultrasound) today, ideally within 4 hours.',
      next: 'Contact your doctor, an urgent care centre or the emergency department today and tell them you have calf pain and a Wells score of {score}. Do not wait for the pain to go away.',
    },
    unlikely: {
      heading: 'A blood clot in the leg (DVT) is unlikely, but not ruled out',
      text: 'Your answers make a blood clot less likely. A blood test (D-dimer) is usually the next step to rule it out.',
      next: 'Contact your doctor today or tomorrow to arrange the blood test. If the leg gets more swollen or painful, get help sooner.',
    },
    preliminary: {
      heading: 'We cannot tell yet: a clinician needs to examine your leg',
      text: 'Some questions can only be answered by a clinician who examines your leg, so the chance of a blood clot cannot be worked out yet.',
      next: 'Contact your doctor or an urgent care service today so that a clinician can examine your leg.',
    },
  };

  /**
   * The answers behind a cause, for a patient: the rationale lists them with their weights
   * ("Rank 1 (weight 3). Answers: calf swelling (+1); ... (-1)."); keep those that point towards it.
   */
  function supportingAnswers(rationale) {
    var m = /Answers:\s*(.*?)\.(\s|$)/.exec(rationale || '');
    if (!m) return [];
    return m[1]
      .split('; ')
      .filter(function (part) {
        return /\(\+\d+(\.\d+)?\)$/.test(part);
      })
      .map(function (part) {
        return part.replace(/\s*\(\+\d+(\.\d+)?\)$/, '');
      });
  }

  /** The red flags answered yes, from the PE prediction's rationale ("...answered yes: A; B. Emergency..."). */
  function redFlags(rationale) {
    var m = /answered yes:\s*([^.]*)\./.exec(rationale || '');
    return m ? m[1] : 'a warning sign was answered yes';
  }

  function showResult(ra, stored) {
    clearProblems();
    setStatus('Your answers were sent.');
    resultEl.textContent = '';
    var predictions = ra.prediction || [];
    var pe = predictions.filter(function (p) {
      return P.hasCode(p.outcome, P.SNOMED, P.PE_CODE);
    })[0];
    var dvt = predictions[0];
    var twoLevelExt = dvt && P.extensionOf(dvt, 'wells-two-level');
    var twoLevel = twoLevelExt && twoLevelExt.valueCodeableConcept.coding[0].code;
    var scoreExt = P.extensionOf(ra, 'wells-score');
    var rangeExt = P.extensionOf(ra, 'wells-score-range');
    var kind = twoLevel === 'likely' ? 'likely' : twoLevel === 'unlikely' && ra.status === 'final' ? 'unlikely' : 'preliminary';
    var words = NEXT[kind];
    var score = scoreExt ? String(scoreExt.valueInteger) : '';

    resultEl.appendChild(el('h2', { id: 'result-heading' }, ['Your result']));
    if (pe) {
      resultEl.appendChild(
        el('div', { className: 'emergency', role: 'alert' }, [
          el('h3', {}, ['Emergency: call emergency services now (999, 112 or 911)']),
          el('p', {}, [
            'You said you have a warning sign of a blood clot in the lungs (pulmonary embolism): ' + redFlags(pe.rationale) + '.',
          ]),
          el('p', {}, [
            el('strong', {}, [
              'This can be life-threatening. Call an ambulance or go to the emergency department now. Do not drive yourself.',
            ]),
          ]),
        ]),
      );
    }
    var summary = el('div', { className: 'result-summary result-' + kind }, [
      el('h3', {}, [words.heading]),
      el('p', {}, [words.text]),
      score
        ? el('p', {}, [
            'Wells DVT score: ',
            el('strong', { 'data-testid': 'wells-score' }, [score]),
            ' (2 or more means a clot is likely).',
          ])
        : rangeExt
          ? el('p', {}, [
              'Wells DVT score: between ' +
                rangeExt.valueRange.low.value +
                ' and ' +
                rangeExt.valueRange.high.value +
                ', depending on the examination.',
            ])
          : null,
      el('h4', {}, ['What happens next']),
      el('p', {}, [words.next.replace('{score}', score)]),
    ]);
    resultEl.appendChild(summary);

    var causes = predictions
      .filter(function (p) {
        return P.extensionOf(p, 'differential-rank');
      })
      .sort(function (a, b) {
        return P.extensionOf(a, 'differential-rank').valueInteger - P.extensionOf(b, 'differential-rank').valueInteger;
      })
      .slice(0, 3);
    if (causes.length) {
      var list = el('ol', { className: 'causes' });
      causes.forEach(function (p) {
        var name = (p.outcome && (p.outcome.text || (p.outcome.coding && p.outcome.coding[0].display))) || 'Cause';
        var risk = riskCode(p);
        var why = supportingAnswers(p.rationale);
        list.appendChild(
          el('li', {}, [
            el('strong', {}, [name]),
            risk ? ' (' + (risk === 'high' ? 'most likely' : risk === 'moderate' ? 'possible' : 'less likely') + ')' : '',
            why.length ? el('p', {}, ['What fits: ' + why.join('; ') + '.']) : null,
          ]),
        );
      });
      resultEl.appendChild(el('h3', {}, ['Causes of calf pain that fit your answers, most likely first']));
      resultEl.appendChild(list);
    }
    resultEl.appendChild(
      el('p', { className: 'small' }, [
        'This is decision support, not a diagnosis: a clinician decides. Reference: ',
        el('code', {}, ['QuestionnaireResponse/' + stored.id]),
        '.',
      ]),
    );
    resultEl.hidden = false;
    resultEl.focus();
    if (pe) resultEl.querySelector('.emergency').scrollIntoView();
  }

  /**
   * LHC-Forms points its help buttons' aria-controls at popovers that exist only while open, which
   * assistive technology (and axe) reports as a broken reference: drop references to absent elements.
   */
  function repairAccessibility() {
    Array.prototype.forEach.call(formEl.querySelectorAll('[aria-controls]'), function (node) {
      if (!document.getElementById(node.getAttribute('aria-controls'))) node.removeAttribute('aria-controls');
    });
  }

  // ---------------------------------------------------------------------------------------------

  submitButton.addEventListener('click', submit);
  // Capture phase: the form's radio buttons stop their clicks from bubbling.
  ['click', 'change', 'keyup'].forEach(function (type) {
    formEl.addEventListener(type, scheduleScore, true);
  });

  Promise.all([P.fhirRequest(config, 'patient', 'GET', '/Questionnaire/' + encodeURIComponent(config.questionnaire)), waitForLForms()])
    .then(function (loaded) {
      var res = loaded[0];
      if (!res.ok || !res.body || res.body.resourceType !== 'Questionnaire')
        throw new Error('The questionnaire could not be loaded (' + P.problemText(res) + ').');
      questionnaire = localize(withoutChartPopulation(res.body), config.language);
      wellsLinkIds = wellsCriteria(questionnaire);
      return LForms.Util.addFormToPage(questionnaire, formEl, { fhirVersion: 'R4' });
    })
    .then(function () {
      setStatus('Ready: answer the questions, then press Submit.');
      submitButton.disabled = false;
      showScore();
      repairAccessibility();
      new MutationObserver(repairAccessibility).observe(formEl, { childList: true, subtree: true });
      document.body.setAttribute('data-form-ready', 'true');
    })
    .catch(function (e) {
      setStatus('');
      showFailure(e && e.message ? e.message : 'The questionnaire could not be loaded.');
    });
})();
