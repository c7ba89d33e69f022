// @ts-check
import { fileURLToPath } from 'node:url';
import { gatewayErrors, gatewayProxy } from '@gateway-errors/express';
import express from 'express';

/** @param {string} name a directory under views/ */
const views = (name) => fileURLToPath(new URL(`views/${name}`, import.meta.url));

// The logo as a data: URL: an error page must not load anything from the site that is failing.
const logo =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#8a3b12"/>' +
  '<path d="M8 9h7a3 3 0 0 1 3 3v12a3 3 0 0 0-3-3H8zM24 9h-7a3 3 0 0 0-3 3v12a3 3 0 0 1 3-3h7z" fill="#fff"/></svg>';

const locals = {
  siteName: 'Acme Books',
  logoUrl: `data:image/svg+xml;base64,${Buffer.from(logo).toString('base64')}`,
  statusPageUrl: 'https://status.acme.example',
  contactUrl: 'mailto:help@acme.example',
};

/**
 * Four ways to make the pages yours, lightest first. Each is the options of one gatewayErrors(); the app mounts each
 * on its own path, so that they can be compared side by side. A real app picks one and mounts it once.
 * @type {Record<'locals' | 'messages' | 'partial' | 'template', import('@gateway-errors/express').GatewayErrorsOptions>}
 */
export const customisations = {
  // 1. locals: your name, logo and links in the built-in pages.
  locals: { locals },

  // 2. messages: other words, per language, without touching a template; and a language of your own.
  messages: {
    locals,
    messages: {
      en: { badGateway: { heading: 'Our bookshop is catching its breath' } },
      nl: {
        badGateway: {
          title: 'Ongeldige gateway',
          heading: 'We konden de dienst achter deze pagina niet bereiken',
          description:
            'Onze server vroeg een andere dienst om deze pagina, maar kreeg geen goed antwoord. Dit is meestal tijdelijk.',
        },
        serviceUnavailable: {
          title: 'Dienst niet beschikbaar',
          heading: 'Deze dienst is tijdelijk niet beschikbaar',
          description: 'De dienst achter deze pagina is overbelast of herstelt van een probleem, dus we wachten even.',
        },
        maintenance: {
          title: 'Onderhoud',
          heading: 'We doen gepland onderhoud',
          description: 'Dit deel van de site wordt bijgewerkt en is snel weer terug.',
        },
        gatewayTimeout: {
          title: 'Gateway-time-out',
          heading: 'De dienst achter deze pagina deed er te lang over',
          description:
            'Onze server wachtte op een andere dienst, maar die antwoordde niet op tijd. Dit is meestal tijdelijk.',
        },
        error: {
          title: 'Er ging iets mis',
          heading: 'Er ging bij ons iets mis',
          description: 'We konden je verzoek niet afronden.',
        },
        statusLabel: 'Fout {status}',
        notYourFault: 'Dit is geen probleem met je apparaat of je verbinding.',
        retryIn: 'Probeer het {time} opnieuw.', // {time}: "over 30 seconden"
        retrySoon: 'Probeer het zo meteen opnieuw.',
        retryReady: 'Je kunt het nu opnieuw proberen.',
        retryNow: 'Opnieuw proberen',
        reference: 'Referentie',
        referenceHint: 'Vermeld deze referentie als je contact opneemt met support.',
        home: 'Naar de startpagina',
        statusPage: 'Bekijk de status van de dienst',
        contact: 'Neem contact op',
        diagnostics: 'Diagnose (alleen in ontwikkelmodus)',
      },
    },
  },

  // 3. one partial: views/partial/partials/links.ejs extends the built-in links; every other file stays built in.
  partial: { locals: { ...locals, supportHours: 'Monday to Friday, 9:00 to 17:00 CET' }, templates: views('partial') },

  // 4. whole templates: views/template/ has the brand's own layout (the document) and 502 page.
  template: { locals, templates: views('template') },
};

/**
 * The bookshop: /<name>/... is proxied to the catalogue, and its failures are answered with `customisations[name]`.
 * @param {{ catalogueUrl: string }} options
 */
export function createApp({ catalogueUrl }) {
  const app = express();
  for (const [name, options] of Object.entries(customisations)) {
    app.use(`/${name}`, gatewayProxy({ target: catalogueUrl }), gatewayErrors(options));
  }
  return app;
}
