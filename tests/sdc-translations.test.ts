/**
 * The Questionnaire in two languages: every translatable string (title, item texts including help and
 * display items, answer option displays) carries a Spanish FHIR translation; the RiskAssessment's
 * next steps and the portal page follow the response's language or Accept-Language.
 */
import request from 'supertest';
import type { Element, PlanDefinition, Questionnaire, QuestionnaireItem, RiskAssessment } from 'fhir/r4';
import { useTestApp } from './support/app';
import { buildResponse, loadQuestionnaire } from './support/build-response';
import { expectValidR4 } from './support/r4-validator';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { loadCatalog } from '../src/clinical/catalog';
import { chooseLanguage, localizeQuestionnaire, translationOf } from '../src/clinical/localize';

const questionnaire: Questionnaire = loadQuestionnaire();
const catalog = loadCatalog();

/** Every translatable string of the Questionnaire with the element its translation hangs on. */
function translatable(q: Questionnaire): { where: string; text: string; element: Element | undefined }[] {
  const out = [{ where: 'title', text: q.title!, element: q._title }];
  const walk = (items: QuestionnaireItem[] | undefined) => {
    for (const item of items ?? []) {
      if (item.text) out.push({ where: `${item.linkId}.text`, text: item.text, element: item._text });
      for (const o of item.answerOption ?? []) {
        if (o.valueCoding?.display)
          out.push({
            where: `${item.linkId}.answerOption(${o.valueCoding.code}).display`,
            text: o.valueCoding.display,
            element: o.valueCoding._display,
          });
      }
      walk(item.item);
    }
  };
  walk(q.item);
  return out;
}

describe('the calf-pain Questionnaire in Spanish', () => {
  const strings = translatable(questionnaire);

  it('has a Spanish translation for every text, help text and answer option display', () => {
    expect(strings.length).toBeGreaterThanOrEqual(60);
    const missing = strings.filter((s) => !translationOf(s.element, 'es')?.trim()).map((s) => s.where);
    expect(missing).toEqual([]);
  });

  it('translates rather than copies (only codes and scores may stay the same)', () => {
    const copied = strings.filter((s) => translationOf(s.element, 'es') === s.text).map((s) => s.where);
    expect(copied).toEqual([]);
  });

  it('keeps the clinical numbers of each text in its translation (points, weeks, centimetres, days)', () => {
    for (const s of strings) {
      const numbers = (t: string) => (t.match(/[+-]?\d+/g) ?? []).sort();
      expect({ where: s.where, numbers: numbers(translationOf(s.element, 'es')!) }).toEqual({ where: s.where, numbers: numbers(s.text) });
    }
  });

  it('stays valid R4 with the translation extensions, and localizes without changing structure or codes', () => {
    expectValidR4(questionnaire);
    const es = localizeQuestionnaire(questionnaire, 'es');
    expect(es.language).toBe('es');
    expect(es.item?.[0].item?.[0].text).toBe('¿Qué pierna le duele?');
    const shape = (q: Questionnaire) => JSON.stringify(q.item, (k, v) => (k === 'text' || k === 'display' ? undefined : v));
    expect(shape(es)).toBe(shape(questionnaire));
  });

  it('the next steps of the assessment rules are translated too', () => {
    const plan = catalog.resources.find((r) => r.id === 'calf-pain-assessment') as PlanDefinition;
    const steps = plan.action!.find((a) => a.id === 'next-steps')!.action!;
    for (const step of steps)
      expect({ id: step.id, es: Boolean(translationOf(step._textEquivalent, 'es')) }).toEqual({ id: step.id, es: true });
  });
});

describe('choosing the language', () => {
  it.each([
    [undefined, undefined, 'en'],
    ['es-ES,es;q=0.9,en;q=0.8', undefined, 'es'],
    ['fr-FR, es;q=0.5', undefined, 'es'],
    ['en-GB, es;q=0.5', undefined, 'en'],
    ['es;q=0, en', undefined, 'en'],
    ['de', undefined, 'en'],
    ['en', 'es', 'es'],
    ['es', 'en', 'en'],
    ['garbage;;;q=x', undefined, 'en'],
  ])('Accept-Language %s, response language %s -> %s', (accept, response, expected) => {
    expect(chooseLanguage(accept, response)).toBe(expected);
  });
});

describe('the RiskAssessment and the portal follow the language', () => {
  const t = useTestApp();

  it('a response in Spanish gets its next steps in Spanish, stored and returned; English otherwise', async () => {
    const es = { ...buildResponse(WELLS_LIKELY_ANSWERS, { subject: 'Patient/es1' }), language: 'es' };
    const created = await request(t.app)
      .post('/fhir/QuestionnaireResponse')
      .set('Content-Type', 'application/fhir+json')
      .send(es)
      .expect(201);
    const ra = (await request(t.app).get(`/fhir/RiskAssessment?basis=QuestionnaireResponse/${created.body.id}`).expect(200)).body.entry[0]
      .resource as RiskAssessment;
    expectValidR4(ra);
    expect(ra.language).toBe('es');
    expect(ra.mitigation).toMatch(/^TVP probable \(NICE NG158 1\.1\.3\): ofrecer una ecografía/);

    const evaluated = (
      await request(t.app).post('/fhir/QuestionnaireResponse/$evaluate').set('Content-Type', 'application/fhir+json').send(es).expect(200)
    ).body as RiskAssessment;
    expect(evaluated.mitigation).toBe(ra.mitigation);
    const english = (
      await request(t.app)
        .post('/fhir/QuestionnaireResponse/$evaluate')
        .set('Content-Type', 'application/fhir+json')
        .send({ ...es, language: undefined })
        .expect(200)
    ).body as RiskAssessment;
    expect(english.language).toBeUndefined();
    expect(english.mitigation).toMatch(/^DVT likely/);
  });

  it('$evaluate follows Accept-Language when the response names no language; the response language wins', async () => {
    const plain = buildResponse(WELLS_LIKELY_ANSWERS, { subject: 'Patient/es2' });
    const evaluate = async (body: object, accept?: string) => {
      const req = request(t.app).post('/fhir/QuestionnaireResponse/$evaluate').set('Content-Type', 'application/fhir+json');
      if (accept) req.set('Accept-Language', accept);
      const ra = (await req.send(body).expect(200)).body as RiskAssessment;
      expectValidR4(ra);
      return ra;
    };
    expect((await evaluate(plain, 'es-ES,es;q=0.9')).mitigation).toMatch(/^TVP probable/);
    expect((await evaluate(plain, 'en-US')).mitigation).toMatch(/^DVT likely/);
    expect((await evaluate({ ...plain, language: 'en' }, 'es')).mitigation).toMatch(/^DVT likely/);
    // A stored response's assessment follows only the response (the same response, whoever posts it).
    const created = await request(t.app)
      .post('/fhir/QuestionnaireResponse')
      .set('Content-Type', 'application/fhir+json')
      .set('Accept-Language', 'es')
      .send(plain)
      .expect(201);
    const stored = (await request(t.app).get(`/fhir/RiskAssessment?basis=QuestionnaireResponse/${created.body.id}`).expect(200)).body
      .entry[0].resource as RiskAssessment;
    expect(stored.mitigation).toMatch(/^DVT likely/);
  });

  it('the portal page is in Spanish for Accept-Language es or ?lang=es, English otherwise', async () => {
    const config = (html: string) =>
      JSON.parse(/<script type="application\/json" id="page-config">(.*?)<\/script>/s.exec(html)![1]) as { language?: string };
    const es = await request(t.app).get('/portal?patient=p1').set('Accept-Language', 'es-MX,es;q=0.9').expect(200);
    expect(es.text).toContain('<html lang="es">');
    expect(config(es.text).language).toBe('es');
    expect(es.headers.vary).toMatch(/Accept-Language/);
    const chosen = await request(t.app).get('/portal?patient=p1&lang=es').set('Accept-Language', 'en').expect(200);
    expect(config(chosen.text).language).toBe('es');
    const en = await request(t.app).get('/portal?patient=p1').set('Accept-Language', 'en-GB').expect(200);
    expect(en.text).toContain('<html lang="en">');
    expect(config(en.text).language).toBeUndefined();
  });
});
