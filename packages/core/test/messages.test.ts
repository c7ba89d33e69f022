import { builtInMessages, createErrorResponder, englishMessages, type Messages } from '@gateway-errors/core';
import { failureOf, relativeTime } from '@gateway-errors/core/unstable-internals';
import { describe, expect, it } from 'vitest';

const languages = Object.keys(builtInMessages);
const html = 'text/html';

function page(
  options: Parameters<typeof createErrorResponder>[0],
  acceptLanguage: string,
  type = 'connection_refused',
) {
  return createErrorResponder(options).render(failureOf(type as 'connection_refused'), {
    headers: { accept: html, 'accept-language': acceptLanguage },
  } as never);
}

describe('built-in messages', () => {
  it('speak English, Spanish, French, German, Portuguese, Japanese and Chinese', () => {
    expect(languages.sort()).toEqual(['de', 'en', 'es', 'fr', 'ja', 'pt', 'zh']);
  });

  it.each(languages)('%s translates every message, so nothing falls back to English in silence', (language) => {
    const messages = builtInMessages[language] as Record<string, unknown>;
    for (const [key, english] of Object.entries(englishMessages)) {
      const translated = messages[key];
      if (typeof english === 'string') {
        expect(typeof translated, `${language}.${key}`).toBe('string');
        if (language !== 'en' && !['reference', 'statusLabel', 'colon'].includes(key)) {
          expect(translated, `${language}.${key}`).not.toBe(english);
        }
      } else {
        for (const field of ['title', 'heading', 'description']) {
          const text = (translated as Record<string, unknown>)[field];
          expect(typeof text, `${language}.${key}.${field}`).toBe('string');
          if (language !== 'en') expect(text, `${language}.${key}.${field}`).not.toBe(english[field as 'title']);
        }
      }
    }
    expect(Object.keys(messages).sort()).toEqual(Object.keys(englishMessages).sort());
  });

  it.each(languages)('%s keeps the placeholders', (language) => {
    const messages = builtInMessages[language] as Messages;
    expect(messages.retryIn).toContain('{time}');
    expect(messages.statusLabel).toContain('{status}');
  });

  it.each([
    ['en', 'Error 502'],
    ['es', 'Error 502'],
    ['fr', 'Erreur 502'],
    ['de', 'Fehler 502'],
    ['pt', 'Erro 502'],
    ['ja', 'エラー 502'],
    ['zh', '错误 502'],
  ])('a page in %s says when to retry, in its own words', (language, label) => {
    const { body, headers } = page({}, language);
    // The relative time comes from the runtime's ICU data, which words it slightly differently across Node versions.
    const time = new Intl.RelativeTimeFormat(language, { numeric: 'auto' }).format(5, 'second');
    const retry = (builtInMessages[language] as Messages).retryIn.replace('{time}', time);
    if (language === 'en') expect(retry).toBe('Please try again in 5 seconds.');
    expect(body).toContain(`<html lang="${language}" dir="ltr">`);
    expect(headers['content-language']).toBe(language);
    expect(body).toContain(`>${retry}</p>`);
    expect(body).toContain(`<p class="status">${label}</p>`);
    expect(body).toContain((builtInMessages[language] as Messages).badGateway.heading);
  });
});

describe('the exported message tables are frozen (issue 13, item 9)', () => {
  const original = englishMessages.badGateway.heading;

  it.each([
    [
      'englishMessages.badGateway.heading',
      () => ((englishMessages.badGateway as { heading: string }).heading = 'Hacked'),
    ],
    ['englishMessages.retryNow', () => ((englishMessages as { retryNow: string }).retryNow = 'Hacked')],
    ['englishMessages.badGateway', () => ((englishMessages as { badGateway: unknown }).badGateway = { heading: 'x' })],
    [
      'builtInMessages.fr.badGateway.heading',
      () => ((builtInMessages.fr?.badGateway as { heading: string }).heading = 'Piraté'),
    ],
    ['builtInMessages.fr.retryNow', () => ((builtInMessages.fr as { retryNow: string }).retryNow = 'Piraté')],
    ['builtInMessages.xx', () => ((builtInMessages as Record<string, unknown>).xx = {})],
    ['delete builtInMessages.en', () => delete (builtInMessages as Record<string, unknown>).en],
  ])('a write to %s throws (strict mode)', (_, write) => {
    expect(write).toThrow(TypeError);
  });

  it('a responder created after an attempted change renders the original text', () => {
    try {
      (englishMessages.badGateway as { heading: string }).heading = 'Hacked';
    } catch {}
    try {
      (builtInMessages.fr?.badGateway as { heading: string }).heading = 'Piraté';
    } catch {}
    expect(page({}, 'en').body).toContain(original);
    expect(page({}, 'en').body).not.toContain('Hacked');
    expect(page({}, 'fr').body).toContain('Nous n’avons pas pu joindre');
    expect(page({}, 'fr').body).not.toContain('Piraté');
  });
});

describe('relativeTime', () => {
  it.each([
    [1, 'en', 'in 1 second'],
    [45, 'en', 'in 45 seconds'],
    [89, 'en', 'in 89 seconds'],
    [90, 'en', 'in 2 minutes'],
    [121, 'en', 'in 3 minutes'],
    [3600, 'en', 'in 60 minutes'],
    [5400, 'en', 'in 2 hours'],
    [86400, 'en', 'in 24 hours'],
    [200000, 'en', 'in 3 days'],
    [300, 'fr', 'dans 5 minutes'],
    [7200, 'de', 'in 2 Stunden'],
  ])('%i s in %s: %s (rounded up, never less wait than asked)', (seconds, locale, text) => {
    expect(relativeTime(seconds, locale)).toBe(text);
  });
});

describe('the messages option', () => {
  it('overrides one message of a built-in language, the rest staying translated', () => {
    const { body } = page(
      { messages: { fr: { retryNow: 'Recharger la page', badGateway: { heading: 'Oups' } } } },
      'fr',
    );
    expect(body).toContain('>Recharger la page</a>');
    expect(body).toContain('<h1>Oups</h1>');
    expect(body).toContain((builtInMessages.fr as Messages).badGateway.description);
  });

  it('adds a language, which inherits from its primary language, then English', () => {
    const responder = createErrorResponder({
      messages: { 'pt-BR': { retryNow: 'Tentar de novo' }, nl: { retryNow: 'Opnieuw proberen' } },
    });
    const brazil = responder.render(failureOf('connection_refused'), {
      headers: { accept: html, 'accept-language': 'pt-BR' },
    } as never);
    expect(brazil.body).toContain('lang="pt-BR"');
    expect(brazil.body).toContain('>Tentar de novo</a>');
    expect(brazil.body).toContain((builtInMessages.pt as Messages).badGateway.heading);
    const dutch = responder.render(failureOf('connection_refused'), {
      headers: { accept: html, 'accept-language': 'nl-BE,nl;q=0.9' },
    } as never);
    expect(dutch.body).toContain('lang="nl"');
    expect(dutch.body).toContain('>Opnieuw proberen</a>');
    expect(dutch.body).toContain(englishMessages.badGateway.heading);
    // European Portuguese visitors still get the built-in pt.
    const portugal = responder.render(failureOf('connection_refused'), {
      headers: { accept: html, 'accept-language': 'pt-PT' },
    } as never);
    expect(portugal.body).toContain('lang="pt"');
  });

  it('marks a right-to-left language', () => {
    const { body } = page({ messages: { ar: { retryNow: 'أعد المحاولة' } } }, 'ar-EG');
    expect(body).toContain('<html lang="ar" dir="rtl">');
  });

  it('picks the default language for visitors whose languages we lack', () => {
    expect(page({ defaultLocale: 'de' }, 'nl').body).toContain('<html lang="de"');
    expect(page({ defaultLocale: 'de' }, '').body).toContain('<html lang="de"');
  });

  it.each([
    [{ messages: { english: {} } }, /messages key "english" is not a BCP 47 language tag.*"pt-BR"/],
    [{ messages: { 'en-': {} } }, /not a BCP 47 language tag/],
    [{ messages: { fr: { retryNo: 'x' } } }, /messages\["fr"\] has no message "retryNo"\. Known messages: .*retryNow/],
    [{ messages: { fr: { retryNow: 3 } } }, /messages\["fr"\]\.retryNow must be a string/],
    [{ messages: { fr: { badGateway: 'x' } } }, /badGateway must be an object with any of title, heading, description/],
    [{ messages: { fr: { badGateway: { header: 'x' } } } }, /badGateway has no field "header"/],
    [{ messages: { fr: { retryIn: 'Réessayez bientôt' } } }, /retryIn must contain \{time\}/],
    [{ messages: { fr: 'Réessayer' } }, /messages\["fr"\] must be an object of messages/],
    [{ messages: [] }, /messages must be an object keyed by language tag/],
    [{ defaultLocale: 'xx' }, /defaultLocale "xx" has no messages\. Languages: en, es, fr, de, pt, ja, zh/],
    [{ defaultLocale: 'fr-FR' }, /defaultLocale "fr-FR" has no messages\. Did you mean "fr"\?/],
  ])('refuses %j with a message that says how to fix it', (options, message) => {
    expect(() => createErrorResponder(options as never)).toThrow(message);
  });
});
