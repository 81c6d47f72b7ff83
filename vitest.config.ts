import { defineConfig } from 'vitest/config';

// Two suites: `unit` needs nothing but Node (npm test); `ext` drives warren with software
// that .ci/run installs from Debian (pika, Go, Java, rabbitmq-c, Chromium, RabbitMQ itself).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/ext/**', 'node_modules/**'],
          testTimeout: 20_000,
          hookTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'ext',
          include: ['test/ext/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
