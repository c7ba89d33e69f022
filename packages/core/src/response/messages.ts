/**
 * The words on our pages, per language. English is complete and is the fallback for anything a translation or a
 * user override leaves out.
 */

import { configError } from '../config/config-error.js';

/** The copy of one kind of page. */
export interface PageCopy {
  /** The document title and the problem+json `title`. */
  title: string;
  /** The page's main heading: what happened, in plain words. */
  heading: string;
  /** One or two sentences: what it means for the visitor. Also the problem+json `detail`. */
  description: string;
}

/** Every message on a page. Override any of them per language with the `messages` option. */
export interface Messages {
  /** 502 Bad Gateway. */
  badGateway: PageCopy;
  /** 503 Service Unavailable (circuit open, overload). */
  serviceUnavailable: PageCopy;
  /** 503 during planned maintenance. */
  maintenance: PageCopy;
  /** 504 Gateway Timeout. */
  gatewayTimeout: PageCopy;
  /** Any other status rendered with the generic page. */
  error: PageCopy;
  /** The small label above the heading; `{status}` is the status code. */
  statusLabel: string;
  /** Reassurance: the visitor did nothing wrong. */
  notYourFault: string;
  /** When to try again; `{time}` is a localized relative time such as "in 30 seconds". */
  retryIn: string;
  /** When nothing is known about when to try again. */
  retrySoon: string;
  /** What the countdown says once the wait is over. */
  retryReady: string;
  /** The label of the retry link. */
  retryNow: string;
  /** The label before the support reference id. */
  reference: string;
  /**
   * What separates a label from its value: `': '` in English, `' : '` in French (a narrow no-break space before the
   * colon), `'：'` in Japanese and Chinese.
   */
  colon: string;
  /** What to do with the reference id. */
  referenceHint: string;
  /** Link to the home page. */
  home: string;
  /** Link to the status page. */
  statusPage: string;
  /** Link to contact support. */
  contact: string;
  /** Heading of the development diagnostics panel. */
  diagnostics: string;
}

/** A partial set of messages, as users give them: anything left out comes from the built-in language or English. */
export type MessageOverrides = { [K in keyof Messages]?: Messages[K] extends PageCopy ? Partial<PageCopy> : string };

const en: Messages = {
  badGateway: {
    title: 'Bad Gateway',
    heading: 'We could not reach the service behind this page',
    description:
      'Our server asked another service for this page, but it did not answer properly. This is usually temporary.',
  },
  serviceUnavailable: {
    title: 'Service Unavailable',
    heading: 'This service is temporarily unavailable',
    description:
      'The service behind this page is overloaded or recovering from a problem, so we paused requests to it for a moment.',
  },
  maintenance: {
    title: 'Down for maintenance',
    heading: 'We are doing some planned maintenance',
    description: 'This part of the site is being updated and will be back shortly.',
  },
  gatewayTimeout: {
    title: 'Gateway Timeout',
    heading: 'The service behind this page took too long to answer',
    description: 'Our server waited for another service, but it did not answer in time. This is usually temporary.',
  },
  error: {
    title: 'Something went wrong',
    heading: 'Something went wrong on our side',
    description: 'We could not complete your request.',
  },
  statusLabel: 'Error {status}',
  notYourFault: 'This is not a problem with your device or your connection.',
  retryIn: 'Please try again {time}.',
  retrySoon: 'Please try again in a few moments.',
  retryReady: 'You can try again now.',
  retryNow: 'Try again',
  reference: 'Reference',
  colon: ': ',
  referenceHint: 'If you contact support, please quote this reference.',
  home: 'Go to the home page',
  statusPage: 'Check the service status',
  contact: 'Contact support',
  diagnostics: 'Diagnostics (development mode only)',
};

const es: MessageOverrides = {
  badGateway: {
    title: 'Puerta de enlace incorrecta',
    heading: 'No pudimos conectar con el servicio de esta página',
    description:
      'Nuestro servidor pidió esta página a otro servicio, pero no respondió correctamente. Suele ser algo temporal.',
  },
  serviceUnavailable: {
    title: 'Servicio no disponible',
    heading: 'Este servicio no está disponible por el momento',
    description:
      'El servicio de esta página está sobrecargado o recuperándose de un problema, así que hemos pausado las peticiones un momento.',
  },
  maintenance: {
    title: 'En mantenimiento',
    heading: 'Estamos haciendo un mantenimiento programado',
    description: 'Esta parte del sitio se está actualizando y volverá a estar disponible en breve.',
  },
  gatewayTimeout: {
    title: 'Tiempo de espera agotado',
    heading: 'El servicio de esta página tardó demasiado en responder',
    description: 'Nuestro servidor esperó a otro servicio, pero no respondió a tiempo. Suele ser algo temporal.',
  },
  error: {
    title: 'Algo salió mal',
    heading: 'Algo salió mal por nuestra parte',
    description: 'No pudimos completar tu solicitud.',
  },
  statusLabel: 'Error {status}',
  notYourFault: 'No es un problema de tu dispositivo ni de tu conexión.',
  retryIn: 'Vuelve a intentarlo {time}.',
  retrySoon: 'Vuelve a intentarlo dentro de unos momentos.',
  retryReady: 'Ya puedes volver a intentarlo.',
  retryNow: 'Reintentar',
  reference: 'Referencia',
  colon: ': ',
  referenceHint: 'Si contactas con soporte, indica esta referencia.',
  home: 'Ir a la página de inicio',
  statusPage: 'Ver el estado del servicio',
  contact: 'Contactar con soporte',
  diagnostics: 'Diagnóstico (solo en modo desarrollo)',
};

const fr: MessageOverrides = {
  badGateway: {
    title: 'Passerelle incorrecte',
    heading: 'Nous n’avons pas pu joindre le service de cette page',
    description:
      'Notre serveur a demandé cette page à un autre service, qui n’a pas répondu correctement. C’est généralement temporaire.',
  },
  serviceUnavailable: {
    title: 'Service indisponible',
    heading: 'Ce service est temporairement indisponible',
    description:
      'Le service de cette page est surchargé ou se remet d’un incident : nous avons suspendu les requêtes un instant.',
  },
  maintenance: {
    title: 'Maintenance en cours',
    heading: 'Nous effectuons une maintenance programmée',
    description: 'Cette partie du site est en cours de mise à jour et sera bientôt de retour.',
  },
  gatewayTimeout: {
    title: 'Délai de la passerelle dépassé',
    heading: 'Le service de cette page a mis trop de temps à répondre',
    description:
      'Notre serveur a attendu un autre service, qui n’a pas répondu à temps. C’est généralement temporaire.',
  },
  error: {
    title: 'Une erreur est survenue',
    heading: 'Une erreur est survenue de notre côté',
    description: 'Nous n’avons pas pu traiter votre demande.',
  },
  statusLabel: 'Erreur {status}',
  notYourFault: 'Le problème ne vient ni de votre appareil ni de votre connexion.',
  retryIn: 'Veuillez réessayer {time}.',
  retrySoon: 'Veuillez réessayer dans quelques instants.',
  retryReady: 'Vous pouvez réessayer maintenant.',
  retryNow: 'Réessayer',
  reference: 'Référence',
  colon: '\u202f: ',
  referenceHint: 'Si vous contactez l’assistance, indiquez cette référence.',
  home: 'Aller à la page d’accueil',
  statusPage: 'Voir l’état du service',
  contact: 'Contacter l’assistance',
  diagnostics: 'Diagnostic (mode développement uniquement)',
};

const de: MessageOverrides = {
  badGateway: {
    title: 'Fehlerhaftes Gateway',
    heading: 'Wir konnten den Dienst hinter dieser Seite nicht erreichen',
    description:
      'Unser Server hat einen anderen Dienst nach dieser Seite gefragt, aber keine gültige Antwort erhalten. Das ist meist nur vorübergehend.',
  },
  serviceUnavailable: {
    title: 'Dienst nicht verfügbar',
    heading: 'Dieser Dienst ist vorübergehend nicht verfügbar',
    description:
      'Der Dienst hinter dieser Seite ist überlastet oder erholt sich gerade von einem Problem, deshalb pausieren wir Anfragen kurz.',
  },
  maintenance: {
    title: 'Wartungsarbeiten',
    heading: 'Wir führen geplante Wartungsarbeiten durch',
    description: 'Dieser Teil der Website wird gerade aktualisiert und ist in Kürze wieder erreichbar.',
  },
  gatewayTimeout: {
    title: 'Gateway-Zeitüberschreitung',
    heading: 'Der Dienst hinter dieser Seite hat zu lange gebraucht',
    description:
      'Unser Server hat auf einen anderen Dienst gewartet, aber rechtzeitig keine Antwort erhalten. Das ist meist nur vorübergehend.',
  },
  error: {
    title: 'Etwas ist schiefgelaufen',
    heading: 'Bei uns ist etwas schiefgelaufen',
    description: 'Wir konnten Ihre Anfrage nicht abschließen.',
  },
  statusLabel: 'Fehler {status}',
  notYourFault: 'Das liegt nicht an Ihrem Gerät oder Ihrer Verbindung.',
  retryIn: 'Bitte versuchen Sie es {time} erneut.',
  retrySoon: 'Bitte versuchen Sie es in wenigen Augenblicken erneut.',
  retryReady: 'Sie können es jetzt erneut versuchen.',
  retryNow: 'Erneut versuchen',
  reference: 'Referenz',
  colon: ': ',
  referenceHint: 'Bitte nennen Sie diese Referenz, wenn Sie den Support kontaktieren.',
  home: 'Zur Startseite',
  statusPage: 'Dienststatus ansehen',
  contact: 'Support kontaktieren',
  diagnostics: 'Diagnose (nur im Entwicklungsmodus)',
};

const pt: MessageOverrides = {
  badGateway: {
    title: 'Gateway inválido',
    heading: 'Não conseguimos contactar o serviço desta página',
    description:
      'O nosso servidor pediu esta página a outro serviço, mas ele não respondeu corretamente. Normalmente é temporário.',
  },
  serviceUnavailable: {
    title: 'Serviço indisponível',
    heading: 'Este serviço está temporariamente indisponível',
    description:
      'O serviço desta página está sobrecarregado ou a recuperar de um problema, por isso pausámos os pedidos por um momento.',
  },
  maintenance: {
    title: 'Em manutenção',
    heading: 'Estamos a fazer uma manutenção programada',
    description: 'Esta parte do site está a ser atualizada e voltará em breve.',
  },
  gatewayTimeout: {
    title: 'Tempo limite do gateway',
    heading: 'O serviço desta página demorou demasiado a responder',
    description: 'O nosso servidor esperou por outro serviço, mas ele não respondeu a tempo. Normalmente é temporário.',
  },
  error: {
    title: 'Algo correu mal',
    heading: 'Algo correu mal do nosso lado',
    description: 'Não foi possível concluir o seu pedido.',
  },
  statusLabel: 'Erro {status}',
  notYourFault: 'Não é um problema do seu dispositivo nem da sua ligação.',
  retryIn: 'Tente novamente {time}.',
  retrySoon: 'Tente novamente daqui a alguns momentos.',
  retryReady: 'Já pode tentar novamente.',
  retryNow: 'Tentar novamente',
  reference: 'Referência',
  colon: ': ',
  referenceHint: 'Se contactar o suporte, indique esta referência.',
  home: 'Ir para a página inicial',
  statusPage: 'Ver o estado do serviço',
  contact: 'Contactar o suporte',
  diagnostics: 'Diagnóstico (apenas em modo de desenvolvimento)',
};

const ja: MessageOverrides = {
  badGateway: {
    title: '不正なゲートウェイ',
    heading: 'このページを提供するサービスに接続できませんでした',
    description:
      'サーバーが別のサービスにこのページを要求しましたが、正しい応答がありませんでした。通常は一時的な問題です。',
  },
  serviceUnavailable: {
    title: 'サービス利用不可',
    heading: 'このサービスは一時的に利用できません',
    description:
      'このページを提供するサービスが混雑しているか、障害から復旧中のため、リクエストを一時的に停止しています。',
  },
  maintenance: {
    title: 'メンテナンス中',
    heading: '現在、計画メンテナンスを実施しています',
    description: 'サイトのこの部分は更新中です。まもなく再開します。',
  },
  gatewayTimeout: {
    title: 'ゲートウェイタイムアウト',
    heading: 'このページを提供するサービスの応答に時間がかかりすぎました',
    description: 'サーバーが別のサービスの応答を待ちましたが、時間内に応答がありませんでした。通常は一時的な問題です。',
  },
  error: {
    title: '問題が発生しました',
    heading: 'こちら側で問題が発生しました',
    description: 'リクエストを完了できませんでした。',
  },
  statusLabel: 'エラー {status}',
  notYourFault: 'お使いの端末や接続の問題ではありません。',
  retryIn: '{time}にもう一度お試しください。',
  retrySoon: 'しばらくしてからもう一度お試しください。',
  retryReady: '今すぐ再試行できます。',
  retryNow: '再試行',
  reference: '参照番号',
  colon: '：',
  referenceHint: 'サポートにお問い合わせの際は、この参照番号をお伝えください。',
  home: 'ホームページへ',
  statusPage: 'サービスの状況を確認',
  contact: 'サポートに問い合わせる',
  diagnostics: '診断情報（開発モードのみ）',
};

const zh: MessageOverrides = {
  badGateway: {
    title: '网关错误',
    heading: '无法连接到提供此页面的服务',
    description: '我们的服务器向另一个服务请求此页面，但没有得到正确的响应。这通常是暂时的。',
  },
  serviceUnavailable: {
    title: '服务不可用',
    heading: '此服务暂时不可用',
    description: '提供此页面的服务负载过高或正在从故障中恢复，因此我们暂停了对它的请求。',
  },
  maintenance: {
    title: '维护中',
    heading: '我们正在进行计划内维护',
    description: '网站的这一部分正在更新，很快就会恢复。',
  },
  gatewayTimeout: {
    title: '网关超时',
    heading: '提供此页面的服务响应时间过长',
    description: '我们的服务器等待了另一个服务，但它没有及时响应。这通常是暂时的。',
  },
  error: {
    title: '出错了',
    heading: '我们这边出了点问题',
    description: '我们无法完成您的请求。',
  },
  statusLabel: '错误 {status}',
  notYourFault: '这不是您的设备或网络连接的问题。',
  retryIn: '请{time}重试。',
  retrySoon: '请稍后重试。',
  retryReady: '现在可以重试了。',
  retryNow: '重试',
  reference: '参考编号',
  colon: '：',
  referenceHint: '联系客服时，请提供此参考编号。',
  home: '返回首页',
  statusPage: '查看服务状态',
  contact: '联系客服',
  diagnostics: '诊断信息（仅限开发模式）',
};

/**
 * Freezes `table` and every object in it. The exported tables are shared by every responder created later in the
 * process: a write by any importer (`englishMessages.badGateway.heading = ...`) would change every page after it.
 */
function deepFreeze<T extends object>(table: T): T {
  for (const value of Object.values(table)) {
    if (typeof value === 'object' && value !== null) deepFreeze(value);
  }
  return Object.freeze(table);
}

/** The languages built in, by BCP 47 primary tag. Frozen, deep. */
export const builtInMessages: Readonly<Record<string, MessageOverrides>> = deepFreeze({
  en,
  es,
  fr,
  de,
  pt,
  ja,
  zh,
});

/** English, complete: the base every language is merged onto. Frozen, deep. */
export const englishMessages: Readonly<Messages> = deepFreeze(en);

/** `base` with `overrides` laid over it, page copy merged field by field. */
function mergeMessages(base: Messages, overrides: MessageOverrides | undefined): Messages {
  if (overrides === undefined) return base;
  const merged = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const current = merged[key];
    merged[key] = typeof value === 'object' && typeof current === 'object' ? { ...current, ...value } : value;
  }
  return merged as unknown as Messages;
}

/** A BCP 47 language tag as browsers send them: `en`, `pt-BR`, `zh-Hant-TW`. */
const languageTag = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;

const messageKeys = Object.keys(en) as (keyof Messages)[];
const copyKeys: readonly (keyof PageCopy)[] = ['title', 'heading', 'description'];

/**
 * Checks one language's overrides at construction: a misspelt key or a wrong type would otherwise fall back to
 * English in silence, in front of visitors.
 */
function checkOverrides(locale: string, overrides: unknown): void {
  const where = `messages["${locale}"]`;
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_MESSAGES',
      `${where} must be an object of messages, such as { retryNow: 'Try again' }.`,
    );
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const known = en[key as keyof Messages];
    if (known === undefined) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_MESSAGES',
        `${where} has no message "${key}". Known messages: ${messageKeys.join(', ')}.`,
      );
    }
    if (typeof known === 'string') {
      if (typeof value !== 'string') {
        throw configError('GATEWAY_ERRORS_INVALID_MESSAGES', `${where}.${key} must be a string.`);
      }
      continue;
    }
    if (typeof value !== 'object' || value === null) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_MESSAGES',
        `${where}.${key} must be an object with any of ${copyKeys.join(', ')}.`,
      );
    }
    for (const [field, text] of Object.entries(value)) {
      if (!copyKeys.includes(field as keyof PageCopy)) {
        throw configError(
          'GATEWAY_ERRORS_INVALID_MESSAGES',
          `${where}.${key} has no field "${field}". Known fields: ${copyKeys.join(', ')}.`,
        );
      }
      if (text !== undefined && typeof text !== 'string') {
        throw configError('GATEWAY_ERRORS_INVALID_MESSAGES', `${where}.${key}.${field} must be a string.`);
      }
    }
  }
  const retryIn = (overrides as MessageOverrides).retryIn;
  if (retryIn !== undefined && !retryIn.includes('{time}')) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_MESSAGES',
      `${where}.retryIn must contain {time}, where the page puts "in 30 seconds".`,
    );
  }
}

/**
 * Every language the pages speak: the built-in ones and any the `messages` option adds, each complete. A language a
 * user adds inherits from the built-in one with the same primary tag (`pt-BR` from `pt`), then from English.
 */
export function resolveMessages(overrides: Readonly<Record<string, MessageOverrides>> = {}): Map<string, Messages> {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_MESSAGES',
      "messages must be an object keyed by language tag, such as { fr: { retryNow: 'Réessayer' } }.",
    );
  }
  const byLocale = new Map<string, Messages>();
  for (const locale of new Set([...Object.keys(builtInMessages), ...Object.keys(overrides)])) {
    if (!languageTag.test(locale)) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_MESSAGES',
        `messages key "${locale}" is not a BCP 47 language tag. Use a tag such as "en", "fr" or "pt-BR".`,
      );
    }
    const given = overrides[locale];
    if (given !== undefined) checkOverrides(locale, given);
    const primary = locale.split('-')[0]?.toLowerCase() ?? '';
    const builtIn = mergeMessages(englishMessages, builtInMessages[primary]);
    byLocale.set(locale, deepFreeze(mergeMessages(builtIn, given)));
  }
  return byLocale;
}
