import type { Element, Extension, PlanDefinition, PlanDefinitionAction, Questionnaire, QuestionnaireItem, RiskAssessment } from 'fhir/r4';

/**
 * The second language, as data: the FHIR `translation` extension on the Questionnaire's texts and on the
 * next steps of the assessment PlanDefinition. Nothing here knows a word of Spanish.
 */
export const EXT_TRANSLATION = 'http://hl7.org/fhir/StructureDefinition/translation';
/** Languages the resources carry translations for (besides English, the base). */
export const SUPPORTED_LANGUAGES = ['es'] as const;
export type Language = 'en' | (typeof SUPPORTED_LANGUAGES)[number];

/** The translation of an element into `lang` (exact tag or its primary subtag), if it carries one. */
export function translationOf(element: Element | undefined, lang: string): string | undefined {
  const primary = lang.toLowerCase().split('-')[0];
  for (const ext of element?.extension ?? []) {
    if (ext.url !== EXT_TRANSLATION) continue;
    const tag = ext.extension?.find((e: Extension) => e.url === 'lang')?.valueCode?.toLowerCase();
    const content = ext.extension?.find((e: Extension) => e.url === 'content')?.valueString;
    if (content && tag && (tag === lang.toLowerCase() || tag.split('-')[0] === primary)) return content;
  }
  return undefined;
}

/**
 * The language to answer in: the first of the response's own `language` or the Accept-Language header's
 * ranges (by quality) that the resources are translated into; English otherwise.
 */
export function chooseLanguage(acceptLanguage: string | undefined, responseLanguage?: string): Language {
  const supported = (tag: string | undefined): Language | undefined => {
    const primary = tag?.trim().toLowerCase().split('-')[0];
    if (primary === 'en') return 'en';
    return (SUPPORTED_LANGUAGES as readonly string[]).includes(primary ?? '') ? (primary as Language) : undefined;
  };
  const fromResponse = supported(responseLanguage);
  if (fromResponse) return fromResponse;
  const ranges = (acceptLanguage ?? '')
    .split(',')
    .map((part, i) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      return { tag, q: q === undefined ? 1 : Number(q), i };
    })
    .filter((r) => r.tag && r.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const r of ranges) {
    const lang = supported(r.tag);
    if (lang) return lang;
  }
  return 'en';
}

/** The Questionnaire with its texts in `lang` where translated (the structure and codes unchanged). */
export function localizeQuestionnaire(questionnaire: Questionnaire, lang: Language): Questionnaire {
  if (lang === 'en') return questionnaire;
  const items = (list: QuestionnaireItem[] | undefined): QuestionnaireItem[] | undefined =>
    list?.map((item) => ({
      ...item,
      ...(item.text ? { text: translationOf(item._text, lang) ?? item.text } : {}),
      ...(item.answerOption
        ? {
            answerOption: item.answerOption.map((o) =>
              o.valueCoding?.display
                ? { ...o, valueCoding: { ...o.valueCoding, display: translationOf(o.valueCoding._display, lang) ?? o.valueCoding.display } }
                : o,
            ),
          }
        : {}),
      ...(item.item ? { item: items(item.item) } : {}),
    }));
  return {
    ...questionnaire,
    language: lang,
    ...(questionnaire.title ? { title: translationOf(questionnaire._title, lang) ?? questionnaire.title } : {}),
    item: items(questionnaire.item),
  };
}

/** English next step -> its translations, from the PlanDefinition's next-steps actions. */
export function createRiskAssessmentLocalizer(plan: PlanDefinition) {
  const steps: PlanDefinitionAction[] = (plan.action ?? []).find((a) => a.id === 'next-steps')?.action ?? [];
  return {
    /**
     * The patient-facing text of a RiskAssessment (its `mitigation`: the next steps) in `lang`, with
     * `language` set; left in English (and unmarked) when a step has no translation.
     */
    localize(riskAssessment: RiskAssessment, lang: Language): RiskAssessment {
      if (lang === 'en' || !riskAssessment.mitigation) return riskAssessment;
      const paragraphs = riskAssessment.mitigation.split('\n\n').map((p) => {
        const step = steps.find((s) => s.textEquivalent === p);
        return translationOf(step?._textEquivalent, lang);
      });
      if (paragraphs.some((p) => p === undefined)) return riskAssessment;
      return { ...riskAssessment, language: lang, mitigation: paragraphs.join('\n\n') };
    },
  };
}
