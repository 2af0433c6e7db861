// Bundles one app with its libs; node_modules stay external so native and dynamic requires keep working.
const path = require('path');
const { TsconfigPathsPlugin } = require('tsconfig-paths-webpack-plugin');

module.exports = (options) => {
  const app = path.basename(path.dirname(path.dirname(options.entry)));
  // The fetcher's parser threads load their own small entry, not the whole app.
  const extraEntries = app === 'fetcher' ? { 'parse-worker': path.join(__dirname, 'apps/fetcher/src/parse/parse-worker.ts') } : {};
  return {
    ...options,
    entry: { main: options.entry, ...extraEntries },
    externals: [({ request }, callback) => {
      if (request && !request.startsWith('.') && !request.startsWith('@pushmail/') && !path.isAbsolute(request)) {
        return callback(null, 'commonjs ' + request);
      }
      callback();
    }],
    output: { ...options.output, path: path.join(__dirname, 'dist/apps', app), filename: '[name].js' },
    module: {
      rules: [{
        test: /\.ts$/,
        exclude: /node_modules/,
        use: { loader: 'ts-loader', options: { transpileOnly: true, configFile: 'tsconfig.build.json' } },
      }],
    },
    resolve: { ...options.resolve, extensions: ['.ts', '.js'], plugins: [new TsconfigPathsPlugin({ configFile: 'tsconfig.build.json' })] },
    plugins: (options.plugins || []).filter((p) => p.constructor.name !== 'ForkTsCheckerWebpackPlugin'),
    devtool: false,
    optimization: { minimize: false },
  };
};
